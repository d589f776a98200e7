import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { readPassword } from './read-password.ts';
import { AdminError } from './admin-error.ts';

/** Piped standard input (not a terminal) holding `bytes`. */
const piped = (...chunks: Buffer[]) => Readable.from(chunks) as unknown as NodeJS.ReadStream;
const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });

describe('readPassword from piped standard input', () => {
  it('reads the input to the end and removes one trailing newline', async () => {
    assert.equal(await readPassword(piped(Buffer.from('pässwörd 💥\n')), quiet), 'pässwörd 💥');
    assert.equal(await readPassword(piped(Buffer.from('a'), Buffer.from('b\r\n\n')), quiet), 'ab\r\n');
  });

  it('refuses input that is not UTF-8 instead of storing replacement characters nobody can type', async () => {
    for (const bytes of [
      [0x70, 0xe4, 0x73, 0x73, 0x77, 0xf6, 0x72, 0x64],
      [0xff, 0xfe, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66],
      [0xed, 0xa0, 0x80, 0x61, 0x62, 0x63, 0x64, 0x65],
    ]) {
      await assert.rejects(() => readPassword(piped(Buffer.from(bytes)), quiet), (error: Error) => error instanceof AdminError && /not valid UTF-8/.test(error.message));
    }
  });

  it('refuses empty and oversized input', async () => {
    await assert.rejects(() => readPassword(piped(Buffer.from('\n')), quiet), /no password on standard input/);
    await assert.rejects(() => readPassword(piped(Buffer.alloc(4097, 0x61)), quiet), /too long/);
  });
});
