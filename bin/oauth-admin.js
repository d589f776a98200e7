#!/usr/bin/env node
/* global process */
// oauth-admin, the package.json bin. The CLI is TypeScript run by Node's type stripping, which
// needs Node 23.6 or newer; the project pins Node 24 as a devDependency, so `npx oauth-admin` and
// npm scripts find it first in node_modules/.bin even when the PATH's node is older.
const major = Number(process.versions.node.split('.')[0]);
if (major < 23) {
  process.stderr.write(`oauth-admin: Node 24 is required (this is Node ${process.versions.node}); run it from the project with "npx oauth-admin ..." or "npm exec oauth-admin -- ...", which use the project's Node 24\n`);
  process.exit(1);
}
// Cache compiled code between runs (a CLI starts often; Node's documented use of the compile cache).
(await import('node:module')).enableCompileCache?.();
const { main, exitAfterOutput } = await import('../services/admin-cli/main.ts');
await exitAfterOutput(await main(process.argv.slice(2)));
