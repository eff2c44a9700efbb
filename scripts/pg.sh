# Sourced by scripts/test: makes TIDEMARK_TEST_DATABASE_URL point at a
# PostgreSQL server where tests may create databases.
#  1. an existing $TIDEMARK_TEST_DATABASE_URL;
#  2. else the server on 127.0.0.1:5432 if one answers;
#  3. else a throwaway cluster (initdb as the postgres user), installing
#     Debian's postgresql package first when it is absent. It is stopped and
#     removed when the calling script exits.

pg_answers() { timeout 2 bash -c "</dev/tcp/$1/$2" 2>/dev/null; }

ensure_postgres() {
  if [ -n "${TIDEMARK_TEST_DATABASE_URL:-}" ]; then
    echo "postgres: using TIDEMARK_TEST_DATABASE_URL"
    return
  fi
  if pg_answers 127.0.0.1 5432; then
    export TIDEMARK_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    echo "postgres: using the server on 127.0.0.1:5432"
    return
  fi
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$initdb" ]; then
    echo "postgres: none running and none installed; installing Debian's postgresql"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$initdb" ] || { echo "postgres: could not install postgresql; set TIDEMARK_TEST_DATABASE_URL" >&2; exit 1; }
  fi
  local bindir dir port=55432
  bindir=$(dirname "$initdb")
  dir=$(mktemp -d /tmp/tidemark-pg.XXXXXX)
  local as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$dir" postgres
    chown postgres "$dir"
    as=(su postgres -s /bin/bash -c)
  else
    as=(bash -c)
  fi
  "${as[@]}" "'$bindir/initdb' -D '$dir/data' -U postgres -A trust >/dev/null"
  "${as[@]}" "'$bindir/pg_ctl' -D '$dir/data' -l '$dir/log' -w -o \"-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null"
  export TIDEMARK_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  PG_STOP=("${as[@]}" "'$bindir/pg_ctl' -D '$dir/data' -m immediate stop >/dev/null; rm -rf '$dir'")
  trap '"${PG_STOP[@]}" || true' EXIT
  echo "postgres: started a throwaway cluster on 127.0.0.1:$port"
}
