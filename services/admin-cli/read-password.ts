// The password of `users create --password-stdin`: read from standard input, never from the command
// line or the environment (both are visible to other local users and end up in shell history).
// Piped input is read to the end with one trailing newline removed; at a terminal the password is
// asked for twice without echo.
import { AdminError } from './admin-error.ts';
import { UsageError } from './cli-args.ts';

const MAX_INPUT_BYTES = 4096;

export async function readPassword(stdin: NodeJS.ReadStream = process.stdin, stderr: NodeJS.WritableStream = process.stderr): Promise<string> {
  if (stdin.isTTY) {
    const first = await promptHidden(stdin, stderr, 'Password: ');
    const second = await promptHidden(stdin, stderr, 'Password (again): ');
    if (first !== second) throw new AdminError('the passwords do not match');
    return first;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_INPUT_BYTES) throw new AdminError('the password on standard input is too long');
    chunks.push(buffer);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.concat(chunks));
  } catch {
    // Decoding with replacement characters would store a password nobody can type at the sign-in form.
    throw new AdminError('the password on standard input is not valid UTF-8');
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new AdminError('no password on standard input (pipe it in, e.g. printf %s "$PW" | oauth-admin users create alice --password-stdin)');
  return password;
}

function promptHidden(stdin: NodeJS.ReadStream, stderr: NodeJS.WritableStream, prompt: string): Promise<string> {
  stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let value: string[] = [];
  return new Promise((resolve, reject) => {
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(value.join(''));
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new UsageError('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value.push(ch);
      }
    };
    stdin.on('data', onData);
  });
}
