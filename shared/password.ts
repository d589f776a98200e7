// Passwords: argon2id with 20 MiB of memory, 2 iterations, 1 lane: OWASP's minimum (19 MiB, 2, 1)
// with 1 MiB more memory. Why 20: each check maps its memory afresh, with transparent huge pages
// where the kernel has them, and a whole number of 2 MiB pages costs 10 page faults where 19 MiB
// costs 265 (256 of them for the last MiB); measured 11.4 against 16 ms of CPU per check
// (docs/performance.md, 5 December).
import { hash, verify } from '@node-rs/argon2';

// @node-rs/argon2 exports Algorithm as a const enum, which erasable TypeScript cannot import: 2 is Argon2id.
const ARGON2ID_ALGORITHM = 2;

const ARGON2ID = { algorithm: ARGON2ID_ALGORITHM, memoryCost: 20_480, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string): Promise<string> => hash(password, ARGON2ID);

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

const PHC_ARGON2ID = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/;

/** Whether a stored hash is weaker than today's settings (or not argon2id), so a sign-in should replace it. */
export function needsRehash(passwordHash: string): boolean {
  const settings = PHC_ARGON2ID.exec(passwordHash);
  if (!settings) return true;
  const [, memoryCost, timeCost, parallelism] = settings;
  return Number(memoryCost) < ARGON2ID.memoryCost || Number(timeCost) < ARGON2ID.timeCost || Number(parallelism) < ARGON2ID.parallelism;
}

// Verified against when the username is unknown, so both answers cost the same time.
let decoy: Promise<string> | undefined;
export const decoyPasswordHash = (): Promise<string> => (decoy ??= hashPassword('decoy password for unknown users'));
