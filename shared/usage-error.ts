/** A mistake in a command line (oauth-admin, npm start): exit code 2 with its one-line message. */
export class UsageError extends Error {}
