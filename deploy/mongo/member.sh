#!/bin/bash
# One member of the MongoDB replica set rs0 in docker-compose.yml. Members authenticate each other
# with a shared keyFile (MONGO_REPLICA_SET_KEY: 6 to 1024 base64 characters, e.g. openssl rand -hex 64),
# which mongod accepts only when it is readable by its owner alone, so it is written here, inside
# the container, with mode 0400 for the mongodb user; then the image's own entrypoint starts mongod
# (creating the root user from MONGO_INITDB_ROOT_USERNAME/PASSWORD on an empty data directory).
set -euo pipefail
: "${MONGO_REPLICA_SET_KEY:?MONGO_REPLICA_SET_KEY is missing}"
keyfile=/tmp/mongo-replica-set.key
printf '%s\n' "$MONGO_REPLICA_SET_KEY" > "$keyfile"
chown mongodb:mongodb "$keyfile"
chmod 0400 "$keyfile"
unset MONGO_REPLICA_SET_KEY
exec docker-entrypoint.sh mongod --replSet rs0 --keyFile "$keyfile" --bind_ip_all
