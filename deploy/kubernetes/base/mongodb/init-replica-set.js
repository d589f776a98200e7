// Initiates the MongoDB replica set and creates the application's user, idempotently: run it any
// number of times (docker-compose's mongo-init service, the Kubernetes Job mongodb-init). One script
// for both; mongosh runs it with --nodb and it connects by itself.
//
// Environment:
//   MONGO_MEMBERS         host:port of every member, comma separated; the first one is asked to
//                         initiate the set and is given the highest priority (it becomes primary)
//   MONGO_REPLICA_SET     replica set name (rs0)
//   MONGO_ROOT_USERNAME, MONGO_ROOT_PASSWORD   the root user the first member was created with
//   MONGO_APP_USERNAME, MONGO_APP_PASSWORD     the services' user: readWrite on MONGO_APP_DATABASE only
//   MONGO_APP_DATABASE    the database named in the services' MONGODB_URI (oauth)
/* global process, connect, sleep, print, quit */
const env = process.env;

function setting(name, fallback) {
  const value = env[name] || fallback;
  if (!value) {
    print(`mongo-init: ${name} is missing`);
    quit(78);
  }
  if (/PASSWORD$/.test(name) && /^change-?me/i.test(value)) {
    print(`mongo-init: ${name} is still the placeholder; set a random value first`);
    quit(78);
  }
  return value;
}

const members = setting('MONGO_MEMBERS').split(',').map((m) => m.trim()).filter(Boolean);
const replicaSet = setting('MONGO_REPLICA_SET', 'rs0');
const rootUser = encodeURIComponent(setting('MONGO_ROOT_USERNAME'));
const rootPassword = encodeURIComponent(setting('MONGO_ROOT_PASSWORD'));
const appUser = setting('MONGO_APP_USERNAME');
const appPassword = setting('MONGO_APP_PASSWORD');
const appDatabase = setting('MONGO_APP_DATABASE', 'oauth');

/** Retries `fn` once a second for up to `seconds` (members start, elections take a moment). */
function retry(what, seconds, fn) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return fn();
    } catch (error) {
      if (attempt >= seconds) throw error;
      if (attempt % 10 === 1) print(`mongo-init: waiting for ${what}: ${error.message}`);
      sleep(1000);
    }
  }
}

// The first member, directly: before initiation there is no replica set to connect to.
const first = retry('the first member', 120, () =>
  connect(`mongodb://${rootUser}:${rootPassword}@${members[0]}/admin?authSource=admin&directConnection=true`));

function initiated() {
  try {
    first.adminCommand({ replSetGetStatus: 1 });
    return true;
  } catch (error) {
    if (error.codeName === 'NotYetInitialized' || error.code === 94) return false;
    throw error;
  }
}

if (initiated()) {
  print(`mongo-init: replica set ${replicaSet} is already initiated`);
} else {
  const config = {
    _id: replicaSet,
    members: members.map((host, index) => ({ _id: index, host, priority: index === 0 ? 2 : 1 })),
  };
  first.adminCommand({ replSetInitiate: config });
  print(`mongo-init: initiated ${replicaSet} with ${members.join(', ')}`);
}

// Through the replica set from here on: users are created on the primary, wherever it is.
const admin = retry('a primary', 180, () => {
  const db = connect(`mongodb://${rootUser}:${rootPassword}@${members.join(',')}/admin?authSource=admin&replicaSet=${replicaSet}`);
  if (!db.hello().primary) throw new Error('no primary yet');
  return db;
});

const roles = [{ role: 'readWrite', db: appDatabase }];
if (admin.getUser(appUser)) {
  // A changed password (or role) in the deployment's secret takes effect when this runs again.
  admin.updateUser(appUser, { pwd: appPassword, roles });
  print(`mongo-init: user ${appUser} updated (readWrite on ${appDatabase})`);
} else {
  admin.createUser({ user: appUser, pwd: appPassword, roles });
  print(`mongo-init: user ${appUser} created (readWrite on ${appDatabase})`);
}
