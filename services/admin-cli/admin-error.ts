/** A refusal of the admin CLI (unknown scope, duplicate name, malformed redirect URI …): exit code 1, one line. */
export class AdminError extends Error {}
