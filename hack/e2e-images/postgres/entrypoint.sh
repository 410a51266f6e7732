#!/bin/sh
# The entrypoint of e2e.local/postgres:15 (hack/e2e-kubelet.sh builds the
# image from Debian 12's postgresql-15): what the kubelet e2e test and
# deploy/examples/postgres-deployment.yaml use of the official postgres
# image's entrypoint, written for this image.
#
# With no arguments (the image's Cmd is "postgres"), "postgres [OPTION]..."
# or "-OPTION..." it runs the server:
#   - as root, it makes $PGDATA (default /var/lib/postgresql/data; it may be
#     a subdirectory of a volume whose root belongs to root) a directory of
#     the postgres user (uid and gid 999) with mode 0700;
#   - if $PGDATA has no PG_VERSION, it runs initdb as postgres: superuser
#     postgres with the password $POSTGRES_PASSWORD (then required),
#     scram-sha-256 over TCP, trust over the socket in /var/run/postgresql;
#     then lets in every address (pg_hba.conf: host all all 0.0.0.0/0 and
#     ::/0 scram-sha-256; listen_addresses = '*');
#   - it execs `postgres -D $PGDATA [OPTION]...` as postgres, so the server
#     is the container's process 1: SIGTERM stops it once its clients are
#     gone (smart), SIGINT (the image's stop signal) at once (fast), both
#     with a checkpoint.
# Started as the postgres user, it does the same without changing owners.
# Any other command runs as given, as the container's user (the pgbench and
# psql clients: pod commands replace the entrypoint anyway).

set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

case "${1-postgres}" in
postgres) [ $# -eq 0 ] || shift ;;
-*) ;;
*) exec "$@" ;;
esac

log() {
	echo "entrypoint: $*" >&2
}

# as_postgres CMD...: run CMD as the postgres user (its groups too); root
# is refused by initdb and postgres.
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	else
		"$@"
	fi
}

mkdir -p "$PGDATA"
if [ "$(id -u)" = 0 ]; then
	# Files of another owner (a data directory restored as root, say).
	find "$PGDATA" ! -user postgres -exec chown postgres:postgres {} +
	# The socket's directory: the image has it, a tmpfs on /run would not.
	mkdir -p /var/run/postgresql
	chown postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
fi
chmod 0700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD-}" ]; then
		log "error: $PGDATA holds no database and POSTGRES_PASSWORD is not set: the superuser's password is needed"
		exit 1
	fi
	log "initialising the database cluster in $PGDATA"
	# The password goes through a file only postgres can read, not through
	# initdb's command line (which ps shows).
	pwfile=$(mktemp)
	trap 'rm -f -- "$pwfile"' EXIT
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	[ "$(id -u)" != 0 ] || chown postgres:postgres "$pwfile"
	as_postgres initdb --username=postgres --pwfile="$pwfile" \
		--auth-host=scram-sha-256 --auth-local=trust -D "$PGDATA" >&2
	rm -f -- "$pwfile"
	trap - EXIT
	{
		echo
		echo '# hack/e2e-images/postgres/entrypoint.sh: clients from any address, with a password'
		echo 'host all all 0.0.0.0/0 scram-sha-256'
		echo 'host all all ::/0 scram-sha-256'
	} >>"$PGDATA/pg_hba.conf"
	{
		echo
		echo '# hack/e2e-images/postgres/entrypoint.sh'
		echo "listen_addresses = '*'"
	} >>"$PGDATA/postgresql.conf"
	log "initialised; starting the server"
fi

if [ "$(id -u)" = 0 ]; then
	exec env HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups -- \
		postgres -D "$PGDATA" "$@"
fi
exec postgres -D "$PGDATA" "$@"
