#include "sagastore.h"

#include "batchplan.h"
#include "pgcopy.h"
#include "sagalog.h"
#include "sqlerror.h"
#include "sqlitestatements.h"
#include "storetext.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlField>
#include <QSqlQuery>
#include <QSqlRecord>
#include <QStringBuilder>
#include <QThread>
#include <QtEndian>

#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

// Storage notes: every timestamp is stored as milliseconds since the Unix epoch
// (UTC) in a BIGINT/INTEGER column, ids as text (UUID without braces), event
// details as JSON text (type JSON on PostgreSQL). A batch of transitions is planned
// once (BatchPlan) and written, on SQLite, with a few multi-row statements whose
// literals are escaped by the Qt SQL driver itself (QSqlDriver::formatValue), on
// PostgreSQL with one call of saga_commit_batch (resources/sql/postgres), so a
// batch costs the same number of round trips whatever its size.

using namespace StoreText;

namespace {

const QString kActiveStatuses = QStringLiteral("('QUEUED','IN_PROGRESS','ROLLING_BACK')");
constexpr int kSqliteBusyMs = 10000; // how long a SQLite connection waits for another's write lock

} // namespace

struct SagaStore::Private {
    DatabaseUrl url;
    QString connectionName;
    bool opened = false;
    bool readOnly = false;
    // The commit's prepared statements on SQLite; cleared before the connection closes.
    mutable SqliteStatements sqliteStatements;
    // The pg_type OIDs of saga_commit_batch's row types on this connection's
    // database (read at the first commit); cleared when the connection closes.
    mutable std::optional<BatchPlan::PgRowTypes> pgRowTypes;
    // PostgreSQL: why the server said it closes this connection, when it said so while
    // the connection was idle (PgCopy::keepLastWords); empty otherwise.
    mutable QString lastWords;
    qint64 clockSkewMs = 0; // setClockSkewForTesting()
    std::function<void()> betweenRetryReads; // setBetweenRetryReadsForTesting()

    // This program's clock (Unix ms), as the store reads it.
    qint64 localNowMs() const { return QDateTime::currentMSecsSinceEpoch() + clockSkewMs; }
    // Now (Unix ms) on the clock leases are judged by, as an SQL expression. On
    // PostgreSQL the server's: engines on other hosts share the database but not a
    // clock, and one whose host's clock is ahead would see valid leases as expired
    // (one behind would write leases already expired). On SQLite this program's:
    // every engine on a SQLite file runs on the same host. (saga_commit_batch,
    // migration 007, dates the leases of new executions on the server's clock too.)
    QString leaseNowSql() const
    {
        return pg() ? QStringLiteral("(EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::BIGINT")
                    : QString::number(localNowMs());
    }

    QSqlDatabase db() const { return QSqlDatabase::database(connectionName, false); }
    bool pg() const { return url.isPostgres(); }

    StoreError classify(const QSqlError &e, const QString &what) const
    {
        StoreError err = sqlFailure(db(), e, what);
        // A file this connection opened and read as a SQLite database that now reads as
        // none (its first page overwritten) is damaged, not another program's: the
        // engine pauses instead of taking it for a refusal of what it wrote (which
        // failed the sagas and answered every order with 500).
        if (!pg() && opened && (e.nativeErrorCode().toInt() & 0xff) == 26 /*NOTADB*/ && !sqliteFileGone()) {
            err = StoreError::unavailable(what + QStringLiteral(": the file no longer reads as a SQLite database (") + sqlErrorText(e)
                                              + QLatin1Char(')'),
                                          StoreError::Outage::Damaged);
            err.serverText = QStringLiteral("the database file no longer reads as a SQLite database: it is damaged");
        }
        // A query that found the connection closed: the server may have said why first.
        if (pg() && !lastWords.isEmpty() && err.kind == StoreError::Unavailable
            && err.outage == StoreError::Outage::Unreachable)
            err.serverText = lastWords;
        return sqliteFolderNotWritable(err, what);
    }

    // SQLite reads and writes a database in WAL mode (as this program keeps its files)
    // through two more files, PATH-wal and PATH-shm, that it creates in the file's
    // folder. In a folder this user may not write it answers "unable to open database
    // file" (CANTOPEN, read as a wrong path) or "attempt to write a readonly database"
    // (READONLY_DIRECTORY, for a reader): said as what it is, a ReadOnly outage.
    StoreError sqliteFolderNotWritable(StoreError err, const QString &what) const
    {
        if (pg() || err.kind != StoreError::Unavailable
            || (err.outage != StoreError::Outage::Unreachable && err.outage != StoreError::Outage::ReadOnly))
            return err;
        const QFileInfo file(url.path);
        const QString folder = file.absolutePath();
        const QString wal = url.path + QStringLiteral("-wal");
        const QString shm = url.path + QStringLiteral("-shm");
        if (!file.exists() || (QFileInfo::exists(wal) && QFileInfo::exists(shm))
            || ::access(QFile::encodeName(folder).constData(), W_OK) == 0)
            return err;
        err.outage = StoreError::Outage::ReadOnly;
        err.serverText = QStringLiteral("this user may not write in its folder %1, where SQLite must create %2 and %3 "
                                        "to use a database in WAL mode; make the folder writable")
                             .arg(folder, QFileInfo(wal).fileName(), QFileInfo(shm).fileName());
        const QString prefix = what + QStringLiteral(": ");
        err.message = prefix + err.serverText + QStringLiteral(" (SQLite: ")
            + (err.message.startsWith(prefix) ? err.message.mid(prefix.size()) : err.message) + QLatin1Char(')');
        return err;
    }

    // Escaped SQL literal of `v` produced by the driver.
    QString lit(const QVariant &v) const
    {
        if (!v.isValid() || v.isNull())
            return QStringLiteral("NULL");
        QSqlField f(QString(), v.metaType());
        f.setValue(v);
        return db().driver()->formatValue(f);
    }
    QString lit(const QString &s) const { return s.isNull() ? QStringLiteral("NULL") : lit(QVariant(s)); }
    QString lit(qint64 n) const { return QString::number(n); }

    StoreError run(QSqlQuery &q, const QString &sql, const QString &what) const
    {
        if (!q.exec(sql))
            return classify(q.lastError(), what);
        return {};
    }
    StoreError exec(const QString &sql, const QString &what) const
    {
        QSqlQuery q(db());
        return run(q, sql, what);
    }
    // Each SQLite connection's settings (journal_mode=WAL is the file's, set once).
    StoreError configureSqlite() const
    {
        for (const QString &pragma : {QStringLiteral("PRAGMA synchronous=FULL"), QStringLiteral("PRAGMA busy_timeout=%1").arg(kSqliteBusyMs),
                                      QStringLiteral("PRAGMA foreign_keys=ON")}) {
            if (StoreError e = exec(pragma, QStringLiteral("configure sqlite")))
                return e;
        }
        return {};
    }
    // journal_mode=WAL is the file's. Switching a new file needs it to itself: while
    // another connection creates the schema (a console and a saga-server started
    // together), SQLite answers SQLITE_BUSY at once, without the busy wait (its
    // deadlock avoidance), so wait here as busy_timeout would, then give up.
    StoreError useWriteAheadLog() const
    {
        QElapsedTimer waited;
        waited.start();
        for (;;) {
            StoreError e = exec(QStringLiteral("PRAGMA journal_mode=WAL"), QStringLiteral("configure sqlite"));
            // Only a lock is waited for: a read-only or damaged file answers the same at once.
            if (!e || e.kind != StoreError::Unavailable || e.outage != StoreError::Outage::Locked || !db().isOpen()
                || waited.elapsed() >= kSqliteBusyMs)
                return e;
            QThread::msleep(20);
        }
    }
    // A SQLite file with tables but none of ours (no schema_version) is another
    // program's database, at a wrong path: refused before anything is written to
    // it (not even its journal mode), instead of filled with this program's tables.
    StoreError refuseAnotherProgramsFile() const
    {
        QSqlQuery q(db());
        if (StoreError e = run(q,
                               QStringLiteral("SELECT name FROM sqlite_master WHERE type = 'table' "
                                              "AND name NOT LIKE 'sqlite_%' ORDER BY name"),
                               QStringLiteral("look for tables")))
            return e;
        QStringList tables;
        while (q.next())
            tables << q.value(0).toString();
        if (tables.isEmpty() || tables.contains(QLatin1String("schema_version")))
            return {};
        return StoreError{StoreError::Invalid,
                          QStringLiteral("it holds another program's tables (%1%2) and no Saga Console schema; use a "
                                         "new file for Saga Console")
                              .arg(tables.mid(0, 3).join(QStringLiteral(", ")),
                                   tables.size() > 3 ? QStringLiteral(", ...") : QString())};
    }
    // After the migrations: statement journals (a multi-row INSERT has one, for
    // rolling back a statement that fails halfway) stay in memory instead of
    // spilling to temporary files. Not during the migrations: a migration that
    // copies a table is one statement whose journal can be as large as the table
    // (~170 MB of memory for 100,000 orders' events).
    StoreError keepTemporaryInMemory() const
    {
        return exec(QStringLiteral("PRAGMA temp_store=MEMORY"), QStringLiteral("configure sqlite"));
    }
    // A connection that could not be made, in the server's own words on one line
    // (callers name the database): without the driver's "Unable to connect".
    StoreError connectFailed() const
    {
        const QSqlError e = db().lastError();
        QString why = e.text().remove(QLatin1String("QPSQL: Unable to connect")).simplified();
        if (why.isEmpty())
            why = QStringLiteral("no reason given");
        return StoreError::unavailable(why, StoreError::Outage::Unreachable);
    }
    // PostgreSQL session settings, again after a reconnect (a new session).
    void configurePostgres() const
    {
        PgCopy::keepLastWords(db(), &lastWords);
        // Commit durability is the server's setting; do not weaken it here.
        exec(QStringLiteral("SET client_min_messages = warning"), QStringLiteral("configure"));
        if (readOnly)
            exec(QStringLiteral("SET default_transaction_read_only = on"), QStringLiteral("configure"));
    }
    QString migrationsPath() const { return pg() ? QStringLiteral(":/sql/postgres") : QStringLiteral(":/sql/sqlite"); }
    QStringList migrationFiles() const
    {
        return QDir(migrationsPath()).entryList({QStringLiteral("*.sql")}, QDir::Files, QDir::Name);
    }
    static int versionOf(const QString &migrationFile) { return migrationFile.section(QLatin1Char('_'), 0, 0).toInt(); }
    // The newest migration recorded in schema_version (0: none), into *current.
    StoreError readSchemaVersion(int *current) const
    {
        QSqlQuery q(db());
        if (StoreError e = run(q, QStringLiteral("SELECT COALESCE(MAX(version), 0) FROM schema_version"),
                               QStringLiteral("read schema_version")))
            return e;
        *current = q.next() ? q.value(0).toInt() : 0;
        return {}; // q finishes here: SQLite refuses DROP INDEX/TABLE while a statement still reads
    }
    StoreError checkSchema() const;
    StoreError checkReadRights() const;
    // A database a newer program has upgraded: writing to tables this program does
    // not know could break rows the newer one relies on. Refused, nothing changed.
    static StoreError newerSchema(int current, int known)
    {
        return StoreError{StoreError::Invalid, QStringLiteral("its schema is version %1, newer than this program's %2: "
                                                              "it was written by a newer Saga Console; use that version")
                                                   .arg(current)
                                                   .arg(known)};
    }
    StoreError begin() const
    {
        return exec(pg() ? QStringLiteral("BEGIN") : QStringLiteral("BEGIN IMMEDIATE"), QStringLiteral("begin"));
    }
    StoreError commit() const { return exec(QStringLiteral("COMMIT"), QStringLiteral("commit")); }
    void rollback() const
    {
        if (!db().isOpen())
            return;
        QSqlQuery q(db());
        q.exec(QStringLiteral("ROLLBACK"));
    }

    StoreError notOpen() const
    {
        // A PostgreSQL connection the server closed: in the server's words when it gave
        // any (pg_terminate_backend, a shutdown), else in libpq's.
        const QString why = !pg() ? QString() : !lastWords.isEmpty() ? lastWords : PgCopy::brokenReason(db());
        if (why.isEmpty())
            return StoreError::unavailable(QStringLiteral("database connection is not open"), StoreError::Outage::Unreachable);
        StoreError e = StoreError::unavailable(QStringLiteral("the server closed the connection: ") + why,
                                               StoreError::Outage::Unreachable);
        e.serverText = why;
        return e;
    }

    // SQLite: the file this connection opened. A program keeps writing into a file
    // deleted (or renamed over) while it is open, where nothing it writes can be
    // found again; writes check that the path still names that file and answer
    // Unavailable when it does not, so the engine pauses instead.
    struct FileId {
        bool known = false;
        dev_t device = 0;
        ino_t inode = 0;
    };
    FileId sqliteFile;
    static FileId fileIdOf(const QString &path)
    {
        struct stat st;
        if (::stat(QFile::encodeName(path).constData(), &st) != 0)
            return {};
        return FileId{true, st.st_dev, st.st_ino};
    }
    StoreError sqliteFileGone() const
    {
        if (pg() || !sqliteFile.known)
            return {};
        const FileId now = fileIdOf(url.path);
        if (now.known && now.device == sqliteFile.device && now.inode == sqliteFile.inode)
            return {};
        return StoreError::unavailable(
            QStringLiteral("the database file %1 was %2 while in use; nothing more is %3 until "
                           "it is back (or the program restarts)")
                .arg(url.path, now.known ? QStringLiteral("replaced") : QStringLiteral("deleted"),
                     readOnly ? QStringLiteral("read") : QStringLiteral("written")),
            StoreError::Outage::FileGone);
    }

    OrderEvent eventFromQuery(const QSqlQuery &q) const
    {
        // columns: order_id, seq, position, event_type, step_name, details, created_at
        OrderEvent e;
        e.orderId = QUuid::fromString(q.value(0).toString());
        e.seq = q.value(1).toLongLong();
        e.position = q.value(2).toLongLong();
        setEventType(&e, q.value(3).toString());
        const QString stepName = q.value(4).toString();
        if (!stepName.isEmpty())
            e.step = stepFromName(stepName);
        setEventDetails(e, q.value(5).toString().toUtf8());
        e.timestamp = fromMs(q.value(6));
        return e;
    }

    StoreError migrate() const;
    StoreResult<BatchPlan::PgRowTypes> readPgRowTypes(void *conn) const;
    StoreError commitPostgres(const QVector<StoreTransition> &batch, QVector<OrderEvent> &events,
                              const QString &leaseOwner, qint64 leaseMs, qint64 now) const;
    StoreError commitPostgresChecked(const QVector<StoreTransition> &batch, QVector<OrderEvent> &events,
                                     const QString &leaseOwner, qint64 leaseMs, qint64 now,
                                     QVector<int> *leftOut) const;
    StoreError commitSqlite(const QVector<StoreTransition> &batch, QVector<OrderEvent> &events,
                            const QString &leaseOwner, qint64 leaseMs, qint64 now, QVector<int> *leftOut) const;
};

namespace {

// The batch without the sagas whose new order is in `taken` (ids as stored): the
// transitions of their executions are left out of it and of `events`, and their
// indexes noted in *leftOut.
QVector<StoreTransition> leaveOutTaken(const QVector<StoreTransition> &batch, QVector<OrderEvent> &events,
                                       const QSet<QString> &taken, QVector<int> *leftOut)
{
    QSet<QString> executions; // of the new orders that are there already
    for (const StoreTransition &t : batch) {
        if (t.newOrderMayExist && taken.contains(idText(t.event.orderId)))
            executions.insert(t.executionId);
    }
    QVector<StoreTransition> kept;
    QVector<OrderEvent> keptEvents;
    for (int i = 0; i < batch.size(); ++i) {
        if (executions.contains(batch[i].executionId) && taken.contains(idText(batch[i].event.orderId))) {
            leftOut->append(i);
        } else {
            kept.append(batch[i]);
            keptEvents.append(events[i]);
        }
    }
    events = std::move(keptEvents);
    return kept;
}

} // namespace

static const char kEventColumns[] = "order_id, seq, position, event_type, step_name, details, created_at";

SagaStore::SagaStore(const DatabaseUrl &url, const QString &connectionName)
    : d(std::make_unique<Private>())
{
    d->url = url;
    d->connectionName = connectionName;
    // PostgreSQL: addConnection() sets the connect options (the URL's parameters
    // over the programs' timeouts and keepalives).
    QSqlDatabase db = url.addConnection(connectionName);
    if (!url.isPostgres())
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=10000"));
}

SagaStore::~SagaStore()
{
    d->sqliteStatements.clear();
    {
        QSqlDatabase db = d->db();
        if (db.isOpen())
            db.close();
    }
    QSqlDatabase::removeDatabase(d->connectionName);
}

const DatabaseUrl &SagaStore::url() const
{
    return d->url;
}

bool SagaStore::isOpen() const
{
    return d->opened && d->db().isOpen();
}

void SagaStore::setReadOnly(bool readOnly)
{
    d->readOnly = readOnly;
}

StoreError SagaStore::open()
{
    QSqlDatabase db = d->db();
    if (!d->url.isPostgres()) {
        const QFileInfo info(d->url.path);
        if (d->readOnly && !info.exists() && !db.isOpen())
            return StoreError::unavailable(QStringLiteral("the database file %1 does not exist").arg(d->url.path),
                                           StoreError::Outage::Unreachable);
        QDir().mkpath(info.absolutePath());
    }
    if (!db.isOpen() && !db.open())
        return d->connectFailed();
    if (!d->url.isPostgres()) {
        if (StoreError e = d->configureSqlite())
            return e;
        if (!d->readOnly) { // (a reader's schema check names such a file)
            if (StoreError e = d->refuseAnotherProgramsFile())
                return e;
        }
        if (!d->readOnly) { // a reader finds the file as the engine left it (WAL)
            if (StoreError e = d->useWriteAheadLog())
                return e;
        }
    } else {
        d->configurePostgres();
    }
    if (StoreError e = d->readOnly ? d->checkSchema() : d->migrate())
        return e;
    if (!d->url.isPostgres()) {
        if (StoreError e = d->keepTemporaryInMemory())
            return e;
        d->sqliteFile = Private::fileIdOf(d->url.path);
    }
    d->opened = true;
    return {};
}

StoreError SagaStore::reconnect(Reopen reopen)
{
    // Not onto another file at the path, nor a new empty one where it was deleted;
    // unless asked to follow a file put in place of the one it read (its identity
    // changes: databaseIdentity()), once one is there again.
    bool anotherFile = false;
    if (StoreError e = d->sqliteFileGone()) {
        if (reopen != Reopen::FileAtPath || !Private::fileIdOf(d->url.path).known)
            return e;
        anotherFile = true;
    }
    QSqlDatabase db = d->db();
    if (anotherFile && db.isOpen())
        db.close();
    bool connected = false;
    if (db.isOpen()) {
        // A writer's SQLite connection that SQLite opened read-only (the file could not
        // be written when it was opened) stays so when the file becomes writable, and
        // SELECT 1 works on it: it is opened again, which finds out.
        const bool openedReadOnly = !d->pg() && !d->readOnly && SqliteStatements::openedReadOnly(db);
        QSqlQuery q(db);
        connected = !openedReadOnly && q.exec(QStringLiteral("SELECT 1"));
        if (!connected) {
            q.finish();
            d->sqliteStatements.clear();
            d->pgRowTypes.reset();
            db.close();
        }
    }
    if (!connected) {
        if (!db.open())
            return d->connectFailed();
        if (!d->url.isPostgres()) {
            d->configureSqlite();
            d->keepTemporaryInMemory();
            if (anotherFile) {
                if (StoreError e = d->checkSchema()) {
                    db.close();
                    return e;
                }
                d->sqliteFile = Private::fileIdOf(d->url.path);
            }
        } else {
            d->configurePostgres();
        }
        d->opened = true;
    }
    // A reader checks again what open() checked: the database behind a connection that
    // is still (or again) there may have been emptied, restored from an older version
    // or had its rights changed meanwhile; said as such, not as a failed query.
    if (d->readOnly && !anotherFile) {
        if (StoreError e = d->checkSchema())
            return e;
    }
    return {};
}

StoreError SagaStore::checkSchema()
{
    if (!isOpen())
        return d->notOpen();
    return d->checkSchema();
}

bool SagaStore::isConnectionBroken() const
{
    return d->pg() && PgCopy::connectionBroken(d->db());
}

StoreError SagaStore::checkWritable(int busyMs)
{
    if (!isOpen())
        return d->notOpen();
    if (StoreError e = d->sqliteFileGone())
        return e;
    QSqlQuery q(d->db());
    if (!d->pg())
        d->exec(QStringLiteral("PRAGMA busy_timeout = %1").arg(qMax(0, busyMs)), QStringLiteral("check writable"));
    const StoreError e = d->run(q, QStringLiteral("UPDATE saga_counters SET last_position = last_position WHERE id = 1"),
                                QStringLiteral("check that writes commit"));
    if (!d->pg())
        d->exec(QStringLiteral("PRAGMA busy_timeout = %1").arg(kSqliteBusyMs), QStringLiteral("check writable"));
    return e;
}

// A reader's check instead of the migrations: the tables are there, at this
// program's schema version.
StoreError SagaStore::Private::checkSchema() const
{
    const QStringList files = migrationFiles();
    const int known = files.isEmpty() ? 0 : versionOf(files.constLast());
    int current = 0;
    const StoreError versionError = readSchemaVersion(&current);
    if (versionError) {
        const QString text = versionError.message.toLower();
        if (text.contains(QLatin1String("no such table")) || text.contains(QLatin1String("does not exist")))
            return StoreError{StoreError::Invalid,
                              QStringLiteral("it has no Saga Console tables (yet): start saga-server or the console's "
                                             "embedded engine on it once to create them")};
        if (versionError.sqlState != "42501") // (not allowed to read it: named with the others below)
            return versionError;
    } else if (current < known) {
        return StoreError{StoreError::Invalid,
                          QStringLiteral("its schema is version %1, older than this program's %2: start this version's "
                                         "saga-server or embedded engine on it once to upgrade it")
                              .arg(current)
                              .arg(known)};
    } else if (current > known) {
        return newerSchema(current, known);
    }
    if (pg()) {
        if (StoreError e = checkReadRights())
            return e;
    }
    return versionError;
}

// PostgreSQL: the tables a reader reads that this role may not SELECT from, named
// all at once (a query would stop at the first). Only the catalog is read.
StoreError SagaStore::Private::checkReadRights() const
{
    QSqlQuery q(db());
    if (StoreError e = run(q,
                           QStringLiteral("SELECT current_user, string_agg(t, ', ' ORDER BY t) "
                                          "FROM unnest(ARRAY['schema_version', 'saga_counters', 'orders', 'order_items', "
                                          "'order_events', 'saga_executions', 'saga_step_results', 'retry_attempts']) AS t "
                                          "WHERE CASE WHEN to_regclass(t) IS NULL THEN false "
                                          "ELSE NOT has_table_privilege(to_regclass(t), 'SELECT') END"),
                           QStringLiteral("check read rights")))
        return e;
    if (!q.next() || q.value(1).isNull())
        return {};
    const QString tables = q.value(1).toString();
    StoreError e{StoreError::Invalid, {}};
    e.sqlState = "42501"; // insufficient_privilege, as a query would have said
    e.serverText = QStringLiteral("the role %1 has no SELECT on %2 %3")
                       .arg(q.value(0).toString(),
                            tables.contains(QLatin1Char(',')) ? QStringLiteral("tables") : QStringLiteral("table"), tables);
    e.message = e.serverText + QStringLiteral(": a reader needs SELECT on every Saga Console table");
    return e;
}

StoreError SagaStore::Private::migrate() const
{
    const QString dirPath = migrationsPath();
    const QStringList files = migrationFiles();
    if (files.isEmpty())
        return StoreError{StoreError::Invalid, QStringLiteral("no migrations found under %1").arg(dirPath)};

    if (StoreError e = begin())
        return e;
    auto failed = [this](StoreError e) {
        rollback();
        return e;
    };
    if (pg()) {
        if (StoreError e = exec(QStringLiteral("SELECT pg_advisory_xact_lock(72611)"), QStringLiteral("migration lock")))
            return failed(e);
    }
    // Only when it is missing: CREATE ... IF NOT EXISTS needs the CREATE right even
    // when the table is there, and a role that may use a migrated database need
    // not have it.
    bool haveVersions = false;
    {
        QSqlQuery q(db());
        if (StoreError e = run(q,
                               pg() ? QStringLiteral("SELECT to_regclass('schema_version') IS NOT NULL")
                                    : QStringLiteral("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' "
                                                     "AND name = 'schema_version'"),
                               QStringLiteral("look for schema_version")))
            return failed(e);
        haveVersions = q.next() && q.value(0).toBool();
    }
    if (!haveVersions) {
        if (StoreError e = exec(QStringLiteral("CREATE TABLE IF NOT EXISTS schema_version ("
                                               "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"),
                                QStringLiteral("create schema_version")))
            return failed(e);
    }
    int current = 0;
    if (StoreError e = readSchemaVersion(&current))
        return failed(e);
    const int known = versionOf(files.constLast());
    if (current > known)
        return failed(newerSchema(current, known));
    QStringList applied; // logged once committed (a full disk refuses the commit, not the statements)
    for (const QString &file : files) {
        const int version = versionOf(file);
        if (version <= current)
            continue;
        QFile f(dirPath + QLatin1Char('/') + file);
        if (!f.open(QIODevice::ReadOnly))
            return failed(StoreError{StoreError::Invalid, QStringLiteral("cannot read migration %1").arg(file)});
        const QString script = QString::fromUtf8(f.readAll());
        // Statements end with ';' at the end of a line, except inside a $$-quoted
        // body (a function); comments are whole lines.
        QStringList statements;
        QString current;
        for (const QString &line : script.split(QLatin1Char('\n'))) {
            if (line.trimmed().startsWith(QLatin1String("--")))
                continue;
            current += line + QLatin1Char('\n');
            if (line.trimmed().endsWith(QLatin1Char(';')) && current.count(QLatin1String("$$")) % 2 == 0) {
                statements << current;
                current.clear();
            }
        }
        statements << current;
        for (const QString &statement : std::as_const(statements)) {
            QString sql = statement.trimmed();
            if (sql.endsWith(QLatin1Char(';')))
                sql.chop(1);
            if (sql.isEmpty())
                continue;
            if (StoreError e = exec(sql, QStringLiteral("migration %1").arg(file)))
                return failed(e);
        }
        if (StoreError e = exec(QStringLiteral("INSERT INTO schema_version (version, name, applied_at) VALUES (%1, %2, %3)")
                                    .arg(version)
                                    .arg(lit(file))
                                    .arg(QDateTime::currentMSecsSinceEpoch()),
                                QStringLiteral("record migration")))
            return failed(e);
        applied << file;
    }
    if (StoreError e = commit())
        return failed(e); // (a failed COMMIT may leave the transaction open)
    for (const QString &file : std::as_const(applied))
        qCInfo(lcStore) << "applied migration" << file;
    return {};
}

// ---- reads ------------------------------------------------------------------

StoreResult<OrderRecord> SagaStore::loadOrder(const QUuid &orderId)
{
    StoreResult<OrderRecord> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    const QString sql = QStringLiteral(
        "SELECT id, order_number, customer_id, status, payment_method_id, ship_street, ship_city, ship_state, "
        "ship_postal_code, ship_country, total_in_cents, confirmation_number, total_charged_in_cents, "
        "estimated_delivery, trace_id, created_at, updated_at FROM orders WHERE id = %1")
                            .arg(d->lit(idText(orderId)));
    if ((r.error = d->run(q, sql, QStringLiteral("load order"))))
        return r;
    if (!q.next()) {
        r.error = StoreError{StoreError::NotFound, QStringLiteral("order not found")};
        return r;
    }
    OrderRecord &o = r.value;
    o.id = QUuid::fromString(q.value(0).toString());
    o.orderNumber = q.value(1).toString();
    o.customerId = QUuid::fromString(q.value(2).toString());
    o.status = orderRecordStatusFromString(q.value(3).toString()).value_or(OrderRecordStatus::Pending);
    o.paymentMethodId = q.value(4).toString();
    o.shippingAddress = ShippingAddress{q.value(5).toString(), q.value(6).toString(), q.value(7).toString(),
                                        q.value(8).toString(), q.value(9).toString()};
    o.totalInCents = q.value(10).toLongLong();
    o.confirmationNumber = q.value(11).toString();
    o.totalChargedInCents = q.value(12).isNull() ? -1 : q.value(12).toLongLong();
    o.estimatedDelivery = q.value(13).toString();
    o.traceId = q.value(14).toString();
    o.createdAt = fromMs(q.value(15));
    o.updatedAt = fromMs(q.value(16));
    QSqlQuery items(d->db());
    if ((r.error = d->run(items,
                          QStringLiteral("SELECT product_id, product_name, quantity, unit_price_in_cents FROM order_items "
                                         "WHERE order_id = %1 ORDER BY line_no")
                              .arg(d->lit(idText(orderId))),
                          QStringLiteral("load order items"))))
        return r;
    while (items.next())
        o.items.append(OrderItem{items.value(0).toString(), items.value(1).toString(), items.value(2).toInt(),
                                 items.value(3).toLongLong()});
    return r;
}

StoreResult<QVector<OrderEvent>> SagaStore::loadEvents(const QUuid &orderId, qint64 afterSeq)
{
    StoreResult<QVector<OrderEvent>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    q.setForwardOnly(true);
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT %1 FROM order_events WHERE order_id = %2 AND seq > %3 ORDER BY seq")
                              .arg(QLatin1String(kEventColumns), d->lit(idText(orderId)))
                              .arg(afterSeq),
                          QStringLiteral("load events"))))
        return r;
    while (q.next())
        r.value.append(d->eventFromQuery(q));
    return r;
}

StoreResult<QVector<OrderEvent>> SagaStore::loadEventsAfterPosition(qint64 afterPosition, int limit)
{
    StoreResult<QVector<OrderEvent>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    q.setForwardOnly(true);
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT %1 FROM order_events WHERE position > %2 ORDER BY position LIMIT %3")
                              .arg(QLatin1String(kEventColumns))
                              .arg(afterPosition)
                              .arg(qBound(1, limit, 100000)),
                          QStringLiteral("load events after position"))))
        return r;
    while (q.next())
        r.value.append(d->eventFromQuery(q));
    return r;
}

qint64 SagaStore::lastPosition(StoreError *error)
{
    if (!isOpen()) {
        if (error)
            *error = d->notOpen();
        return 0;
    }
    if (StoreError e = d->sqliteFileGone()) { // reading a file no longer at its path
        if (error)
            *error = e;
        return 0;
    }
    QSqlQuery q(d->db());
    StoreError e = d->run(q, QStringLiteral("SELECT last_position FROM saga_counters WHERE id = 1"),
                          QStringLiteral("read last position"));
    if (error)
        *error = e;
    if (e || !q.next())
        return 0;
    return q.value(0).toLongLong();
}

QString SagaStore::databaseIdentity(StoreError *error)
{
    if (!isOpen()) {
        if (error)
            *error = d->notOpen();
        return {};
    }
    if (!d->pg()) {
        if (!d->sqliteFile.known)
            return QStringLiteral("sqlite:") + d->url.path;
        return QStringLiteral("sqlite file %1:%2").arg(quint64(d->sqliteFile.device)).arg(quint64(d->sqliteFile.inode));
    }
    QSqlQuery q(d->db());
    StoreError e = d->run(q, QStringLiteral("SELECT oid FROM pg_database WHERE datname = current_database()"),
                          QStringLiteral("read the database's identity"));
    if (error)
        *error = e;
    if (e || !q.next())
        return {};
    return QStringLiteral("postgresql database oid ") + q.value(0).toString();
}

StoreResult<OrderProgress> SagaStore::loadProgress(const QUuid &orderId, QJsonObject *endDetails)
{
    StoreResult<OrderProgress> r;
    auto events = loadEvents(orderId, 0);
    if (!events.ok()) {
        r.error = events.error;
        return r;
    }
    if (events.value.isEmpty()) {
        r.error = StoreError{StoreError::NotFound, QStringLiteral("order not found")};
        return r;
    }
    r.value = OrderProgress(orderId);
    for (const OrderEvent &e : std::as_const(events.value)) {
        const FoldResult f = r.value.apply(e);
        if (f.outcome == FoldResult::Rejected)
            qCWarning(lcStore) << "stored event rejected by the fold" << idText(orderId) << e.seq << f.error;
        else if (endDetails)
            keepEndDetails(endDetails, e);
    }
    return r;
}

namespace {
struct ListCursor {
    qint64 createdAt = 0;
    QString orderId;
};

// "<created_at ms>_<order id>", as listOrders() writes nextCursor; nullopt for anything else.
std::optional<ListCursor> parseListCursor(const QString &cursor)
{
    const qsizetype sep = cursor.indexOf(QLatin1Char('_'));
    if (sep <= 0 || sep > 19)
        return std::nullopt;
    bool ok = false;
    ListCursor c{cursor.left(sep).toLongLong(&ok), cursor.mid(sep + 1)};
    if (!ok || c.createdAt < 0 || c.orderId.size() != 36 || QUuid::fromString(c.orderId).isNull())
        return std::nullopt;
    return c;
}
} // namespace

bool OrderListFilter::isCursor(const QString &cursor)
{
    return parseListCursor(cursor).has_value();
}

StoreResult<OrderListPage> SagaStore::listOrders(const OrderListFilter &filter)
{
    StoreResult<OrderListPage> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    const int limit = qBound(1, filter.limit, 1000);
    QStringList where;
    if (filter.status)
        where << QStringLiteral("overall_status = %1").arg(d->lit(overallText(*filter.status)));
    const QString query = filter.query.trimmed();
    const QUuid wholeId = query.size() == 36 ? QUuid::fromString(query) : QUuid();
    if (!wholeId.isNull()) {
        // A whole UUID: that order, or that customer's orders, by their indexes. (Read
        // as text it was a scan of every order and every step result: half a second
        // at 100,000 orders for the console reading one order again.) It names an
        // order or a customer: it is not looked for in error messages (README).
        where << QStringLiteral("(id = %1 OR customer_id = %1)").arg(d->lit(wholeId.toString(QUuid::WithoutBraces)));
    } else if (!query.isEmpty()) {
        // The text matches literally: LIKE's wildcards in it are escaped with '!'
        // (not a backslash, which PostgreSQL's string literals may treat specially).
        QString qtext = query.toLower();
        qtext.replace(QLatin1Char('!'), QLatin1String("!!"))
            .replace(QLatin1Char('%'), QLatin1String("!%"))
            .replace(QLatin1Char('_'), QLatin1String("!_"));
        // As the console's search box: also the overall status, and the error code
        // and message a step recorded in the order's latest execution (the failure
        // the order shows; a retry's execution starts without one). The step results
        // are read once for the whole search (one pass over saga_step_results, an
        // index lookup per row that matches), not once per order (three times as
        // slow for a search that finds nothing), and order_events not at all.
        where << QStringLiteral("(lower(id) LIKE %1 ESCAPE '!' OR lower(order_number) LIKE %2 ESCAPE '!' "
                                "OR lower(customer_id) LIKE %1 ESCAPE '!' OR lower(overall_status) LIKE %2 ESCAPE '!' "
                                "OR id IN (SELECT x.order_id FROM saga_step_results r "
                                "JOIN saga_executions x ON x.execution_id = r.execution_id "
                                "WHERE (lower(r.error_code) LIKE %2 ESCAPE '!' OR lower(r.error_message) LIKE %2 ESCAPE '!') "
                                "AND x.attempt = (SELECT max(y.attempt) FROM saga_executions y WHERE y.order_id = x.order_id)))")
                     .arg(d->lit(qtext + QLatin1Char('%')), d->lit(QLatin1Char('%') + qtext + QLatin1Char('%')));
    }
    if (!filter.after.isEmpty()) {
        const std::optional<ListCursor> cursor = parseListCursor(filter.after);
        if (!cursor) {
            r.error = StoreError{StoreError::Invalid, QStringLiteral("list orders: not a cursor: %1").arg(filter.after.left(80))};
            return r;
        }
        where << QStringLiteral("(created_at < %1 OR (created_at = %1 AND id < ").arg(cursor->createdAt) + d->lit(cursor->orderId)
                + QStringLiteral("))");
    }
    QSqlQuery q(d->db());
    q.setForwardOnly(true);
    // Concatenated, not arg(): the WHERE text holds the caller's search text and
    // cursor, where "%1" must not be taken for a placeholder.
    const QString sql = QStringLiteral("SELECT id, created_at FROM orders ")
        + (where.isEmpty() ? QString() : QStringLiteral("WHERE ") + where.join(QLatin1String(" AND ")))
        + QStringLiteral(" ORDER BY created_at DESC, id DESC LIMIT ") + QString::number(limit + 1);
    if ((r.error = d->run(q, sql, QStringLiteral("list orders"))))
        return r;
    QStringList ids;
    QVector<qint64> created;
    while (q.next()) {
        ids << q.value(0).toString();
        created << q.value(1).toLongLong();
    }
    if (ids.size() > limit) {
        ids.removeLast();
        created.removeLast();
        r.value.nextCursor = QString::number(created.last()) + QLatin1Char('_') + ids.last();
    }
    if (ids.isEmpty())
        return r;
    QStringList lits;
    for (const QString &id : std::as_const(ids))
        lits << d->lit(id);
    QSqlQuery ev(d->db());
    ev.setForwardOnly(true);
    if ((r.error = d->run(ev,
                          QStringLiteral("SELECT %1 FROM order_events WHERE order_id IN (%2) ORDER BY order_id, seq")
                              .arg(QLatin1String(kEventColumns), lits.join(QLatin1Char(','))),
                          QStringLiteral("list order events"))))
        return r;
    std::map<QString, OrderProgress> folded;
    while (ev.next()) {
        const OrderEvent e = d->eventFromQuery(ev);
        const QString key = idText(e.orderId);
        auto it = folded.find(key);
        if (it == folded.end())
            it = folded.emplace(key, OrderProgress(e.orderId)).first;
        it->second.apply(e);
    }
    for (const QString &id : std::as_const(ids)) {
        auto it = folded.find(id);
        if (it != folded.end())
            r.value.orders.append(it->second);
    }
    return r;
}

StoreResult<QVector<OrderRecord>> SagaStore::ordersForCustomer(const QUuid &customerId)
{
    StoreResult<QVector<OrderRecord>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT id FROM orders WHERE customer_id = %1 ORDER BY created_at DESC LIMIT 1000")
                              .arg(d->lit(idText(customerId))),
                          QStringLiteral("orders for customer"))))
        return r;
    QVector<QUuid> ids;
    while (q.next())
        ids << QUuid::fromString(q.value(0).toString());
    for (const QUuid &id : std::as_const(ids)) {
        auto o = loadOrder(id);
        if (!o.ok()) {
            r.error = o.error;
            return r;
        }
        r.value.append(o.value);
    }
    return r;
}

StoreResult<QVector<ExecutionRecord>> SagaStore::executions(const QUuid &orderId)
{
    StoreResult<QVector<ExecutionRecord>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT execution_id, order_id, attempt, status, current_step, started_at, completed_at "
                                         "FROM saga_executions WHERE order_id = %1 ORDER BY attempt")
                              .arg(d->lit(idText(orderId))),
                          QStringLiteral("load executions"))))
        return r;
    while (q.next()) {
        ExecutionRecord e;
        e.executionId = q.value(0).toString();
        e.orderId = QUuid::fromString(q.value(1).toString());
        e.attemptNumber = q.value(2).toInt();
        e.status = overallFromText(q.value(3).toString()).value_or(OverallStatus::Queued);
        if (!q.value(4).toString().isEmpty())
            e.currentStep = stepFromName(q.value(4).toString());
        e.startedAt = fromMs(q.value(5));
        e.completedAt = fromMs(q.value(6));
        r.value.append(e);
    }
    return r;
}

StoreResult<QVector<RetryAttempt>> SagaStore::retryAttempts(const QUuid &orderId)
{
    StoreResult<QVector<RetryAttempt>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT attempt_number, initiated_at, resumed_from_step, outcome, execution_id "
                                         "FROM retry_attempts WHERE order_id = %1 ORDER BY attempt_number")
                              .arg(d->lit(idText(orderId))),
                          QStringLiteral("load retry attempts"))))
        return r;
    while (q.next()) {
        RetryAttempt a;
        a.attemptNumber = q.value(0).toInt();
        a.initiatedAt = fromMs(q.value(1));
        a.resumedFromStep = q.value(2).toString();
        a.outcome = q.value(3).toString();
        a.executionId = q.value(4).toString();
        r.value.append(a);
    }
    return r;
}

StoreResult<QVector<QPair<SagaStep, qint64>>> SagaStore::recentStepDurations(int limit)
{
    StoreResult<QVector<QPair<SagaStep, qint64>>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    // "Recent" is by execution: execution ids are time-ordered (version-7 UUIDs,
    // timeorderedid.h), so the newest executions come first in the primary key and
    // the read stops after `limit` rows. Ordering by completed_at (no index) sorted
    // every step result ever stored: 0.27 s of the store thread's work when the
    // console starts on 100,000 orders. Executions written before version-7 ids
    // (random ids) come out in no particular order.
    QSqlQuery q(d->db());
    q.setForwardOnly(true);
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT step_name, completed_at - started_at FROM saga_step_results "
                                         "WHERE status IN ('COMPLETED','COMPENSATING','COMPENSATED') "
                                         "AND started_at IS NOT NULL AND completed_at IS NOT NULL "
                                         "ORDER BY execution_id DESC LIMIT %1")
                              .arg(qBound(1, limit, 100000)),
                          QStringLiteral("recent step durations"))))
        return r;
    while (q.next()) {
        if (auto step = stepFromName(q.value(0).toString()))
            r.value.append(qMakePair(*step, q.value(1).toLongLong()));
    }
    return r;
}

// ---- writes -----------------------------------------------------------------

StoreResult<QVector<OrderEvent>> SagaStore::commitTransitions(const QVector<StoreTransition> &batch,
                                                              const QString &leaseOwner, qint64 leaseMs,
                                                              QVector<int> *leftOut)
{
    StoreResult<QVector<OrderEvent>> r;
    if (batch.isEmpty())
        return r;
    if (!isOpen()) {
        r.error = d->notOpen();
        r.error.notWritten = true;
        return r;
    }
    if ((r.error = d->sqliteFileGone())) {
        r.error.notWritten = true;
        return r;
    }
    const qint64 now = d->localNowMs();
    QVector<OrderEvent> events;
    events.reserve(batch.size());
    bool mayExist = false;
    for (const StoreTransition &t : batch) {
        events.append(t.event);
        mayExist |= t.newOrderMayExist;
    }
    QVector<int> leftOutHere;
    if (!leftOut)
        leftOut = &leftOutHere;
    leftOut->clear();
    StoreError e;
    if (d->pg())
        e = mayExist ? d->commitPostgresChecked(batch, events, leaseOwner, leaseMs, now, leftOut)
                     : d->commitPostgres(batch, events, leaseOwner, leaseMs, now);
    else
        e = d->commitSqlite(batch, events, leaseOwner, leaseMs, now, mayExist ? leftOut : nullptr);
    if (e)
        r.error = e;
    else
        r.value = std::move(events);
    return r;
}

// The OIDs of the row types, looked up by name as the function's own parameters are.
StoreResult<BatchPlan::PgRowTypes> SagaStore::Private::readPgRowTypes(void *conn) const
{
    StoreResult<BatchPlan::PgRowTypes> r;
    QByteArray sql = "SELECT ";
    for (int i = 0; i < BatchPlan::PgArrayCount; ++i)
        sql += QByteArray(i > 0 ? ", " : "") + "to_regtype('" + BatchPlan::pgRowTypeNames[i] + "')::oid";
    const StoreResult<QList<QByteArray>> answer = PgCopy::queryRow(conn, sql.constData(), {}, QStringLiteral("row types"));
    if (!answer.ok()) {
        r.error = answer.error;
        return r;
    }
    if (answer.value.size() != BatchPlan::PgArrayCount) {
        r.error = StoreError{StoreError::Invalid, QStringLiteral("row types: no answer")};
        return r;
    }
    for (int i = 0; i < BatchPlan::PgArrayCount; ++i) {
        if (answer.value.at(i).isNull()) {
            r.error = StoreError{StoreError::Invalid,
                                 QStringLiteral("row types: type %1 is missing (schema older than migration 005?)")
                                     .arg(QLatin1String(BatchPlan::pgRowTypeNames[i]))};
            return r;
        }
        r.value[size_t(i)] = answer.value.at(i).toUInt();
    }
    return r;
}

// PostgreSQL: one call of saga_commit_batch (resources/sql/postgres/005_binary_rows.sql)
// outside an explicit transaction, so the batch is one statement, one round trip and
// one transaction. Positions and new orders' numbers come back from the counter.
// The rows travel as binary arrays of records through libpq (PgCopy::queryRow,
// BatchPlan::toPgBinary): nothing is escaped here, and the server parses no text
// but the events' details.
StoreError SagaStore::Private::commitPostgres(const QVector<StoreTransition> &batch, QVector<OrderEvent> &events,
                                              const QString &leaseOwner, qint64 leaseMs, qint64 now) const
{
    void *conn = PgCopy::usableConnection(db());
    if (!pgRowTypes) {
        StoreResult<BatchPlan::PgRowTypes> types = readPgRowTypes(conn);
        if (!types.ok())
            return types.error;
        pgRowTypes = types.value;
    }
    const BatchPlan plan = BatchPlan::build(batch, events, now + leaseMs, std::nullopt);
    QList<PgCopy::Param> params{{leaseOwner.toUtf8()}, {QByteArray::number(now)}};
    for (QByteArray &rows : plan.toPgBinary(events, *pgRowTypes))
        params.append({std::move(rows), true});
    QByteArray sqlState;
    const StoreResult<QList<QByteArray>> answer =
        PgCopy::queryRow(conn,
                         "SELECT first_position, order_numbers FROM saga_commit_batch($1, $2, $3, $4, $5, $6, $7, $8, "
                         "$9, $10, $11, $12)",
                         params, QStringLiteral("commit batch"), &sqlState);
    if (!answer.ok()) {
        StoreError e = answer.error;
        if (sqlState == "SAG01" || sqlState == "23505") // lease lost; a row already written (as classify())
            e.kind = StoreError::Conflict;
        return e;
    }
    if (answer.value.size() != 2 || answer.value.at(0).isNull())
        return StoreError{StoreError::Invalid, QStringLiteral("commit batch: no answer")};
    const qint64 p0 = answer.value.at(0).toLongLong();
    const QJsonObject numbers = plan.newOrders > 0 ? QJsonDocument::fromJson(answer.value.at(1)).object() : QJsonObject();
    for (int i = 0; i < events.size(); ++i) {
        OrderEvent &e = events[i];
        e.position = p0 + i + 1;
        if (plan.events[i].createsOrder)
            e.details.insert(QStringLiteral("orderNumber"), numbers.value(idText(e.orderId)));
    }
    return {};
}

// PostgreSQL, a batch with orders placed with an Idempotency-Key: in one explicit
// transaction, a lock on each such order's id (pg_advisory_xact_lock, in key order
// so two engines cannot wait on each other; taken before saga_commit_batch takes
// any row lock), a look for the orders already there,
// then saga_commit_batch for the rest. Another engine committing the same order
// holds the lock until its commit, so the look sees its order; the batch never
// fails on the orders' primary key.
StoreError SagaStore::Private::commitPostgresChecked(const QVector<StoreTransition> &batch, QVector<OrderEvent> &events,
                                                     const QString &leaseOwner, qint64 leaseMs, qint64 now,
                                                     QVector<int> *leftOut) const
{
    void *conn = PgCopy::usableConnection(db());
    const QString what = QStringLiteral("commit batch (orders with an Idempotency-Key)");
    QByteArray ids = "{";
    std::set<qint64> lockKeys; // in key order
    for (const StoreTransition &t : batch) {
        if (!t.newOrderMayExist)
            continue;
        ids += (ids.size() > 1 ? "," : "") + idText(t.event.orderId).toUtf8();
        lockKeys.insert(qFromBigEndian<qint64>(t.event.orderId.toRfc4122().constData()));
    }
    ids += '}';
    QByteArray locks = "{";
    for (const qint64 key : lockKeys)
        locks += (locks.size() > 1 ? "," : "") + QByteArray::number(key);
    locks += '}';
    const StoreResult<QList<QByteArray>> begun = PgCopy::queryRow(conn, "BEGIN", {}, what);
    if (!begun.ok())
        return begun.error;
    // Before COMMIT nothing is written, whatever happened to the connection.
    auto undo = [&](StoreError e) {
        PgCopy::queryRow(conn, "ROLLBACK", {}, what);
        e.notWritten = true;
        return e;
    };
    // (unnest yields the keys in the array's order, and each lock is taken as its row is.)
    const StoreResult<QList<QByteArray>> locked =
        PgCopy::queryRow(conn, "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k", {{locks}}, what);
    if (!locked.ok())
        return undo(locked.error);
    const StoreResult<QList<QByteArray>> found =
        PgCopy::queryRow(conn, "SELECT string_agg(id, ',') FROM orders WHERE id = ANY($1::text[])", {{ids}}, what);
    if (!found.ok())
        return undo(found.error);
    QSet<QString> taken;
    if (!found.value.value(0).isEmpty()) {
        for (const QByteArray &id : found.value.at(0).split(','))
            taken.insert(QString::fromUtf8(id));
    }
    const QVector<StoreTransition> kept = taken.isEmpty() ? batch : leaveOutTaken(batch, events, taken, leftOut);
    if (!kept.isEmpty()) {
        if (StoreError e = commitPostgres(kept, events, leaseOwner, leaseMs, now))
            return undo(e);
    }
    // An ERROR answering COMMIT rolled it back; no answer at all: unknown (queryRow says which).
    const StoreResult<QList<QByteArray>> committed = PgCopy::queryRow(conn, "COMMIT", {}, what);
    return committed.error;
}

// SQLite: one writer at a time anyway; the counter is taken first, then the rows,
// each through its kind's prepared statement (SqliteStatements), in one transaction.
StoreError SagaStore::Private::commitSqlite(const QVector<StoreTransition> &whole, QVector<OrderEvent> &events,
                                            const QString &leaseOwner, qint64 leaseMs, qint64 now,
                                            QVector<int> *leftOut) const
{
    // Before COMMIT nothing is written: an error rolls the batch back.
    auto fail = [this](StoreError e) {
        rollback();
        e.notWritten = true;
        return e;
    };
    SqliteStatements &st = sqliteStatements;
    if (!st.attach(db())) {
        StoreError e = StoreError::unavailable(QStringLiteral("commit batch: the database is not open"),
                                               StoreError::Outage::Unreachable);
        e.notWritten = true;
        return e;
    }
    // BEGIN, the counter and COMMIT are prepared statements too.
    if (StoreError e = st.run("BEGIN IMMEDIATE", QStringLiteral("begin"), [](auto &) {}))
        return fail(e);
    // Orders placed with an Idempotency-Key (leftOut given): the ones another
    // engine on this file wrote first are left out, under the write lock.
    QVector<StoreTransition> kept;
    if (leftOut) {
        QSet<QString> taken;
        for (const StoreTransition &t : whole) {
            if (!t.newOrderMayExist)
                continue;
            const QString id = idText(t.event.orderId);
            qint64 found = 0;
            if (StoreError e = st.runRow("SELECT count(*) FROM orders WHERE id = ?", QStringLiteral("look up keyed orders"),
                                         [&](auto &b) { b.text(id); }, {&found}))
                return fail(e);
            if (found > 0)
                taken.insert(id);
        }
        if (!taken.isEmpty()) {
            kept = leaveOutTaken(whole, events, taken, leftOut);
            if (kept.isEmpty()) {
                rollback();
                return {};
            }
        }
    }
    const QVector<StoreTransition> &batch = leftOut && !leftOut->isEmpty() ? kept : whole;
    const int newOrders = BatchPlan::countNewOrders(batch);
    qint64 lastPosition = 0;
    qint64 lastNumber = 0;
    if (StoreError e = st.runRow("UPDATE saga_counters SET last_position = last_position + ?, "
                                 "last_order_number = last_order_number + ? WHERE id = 1 "
                                 "RETURNING last_position, last_order_number",
                                 QStringLiteral("take positions"),
                                 [&](auto &b) { b.integer(qint64(batch.size())).integer(qint64(newOrders)); },
                                 {&lastPosition, &lastNumber}))
        return fail(e); // "take positions: no row" if the saga_counters row is missing
    const qint64 firstPosition = lastPosition - batch.size() + 1;
    const qint64 firstNumber = lastNumber - newOrders + 1;
    for (int i = 0; i < events.size(); ++i)
        events[i].position = firstPosition + i;
    const BatchPlan plan = BatchPlan::build(batch, events, now + leaseMs, firstNumber);
    const QByteArray owner = leaseOwner.toUtf8();
    // Rows go in multi-row INSERTs of up to SqliteStatements::kMaxRows rows, each
    // prepared once per row count (sqlitestatements.h).
    if (StoreError e = st.insertRows("INSERT INTO orders (id, order_number, customer_id, status, overall_status, "
                                     "payment_method_id, ship_street, ship_city, ship_state, ship_postal_code, "
                                     "ship_country, total_in_cents, trace_id, created_at, updated_at) VALUES ",
                                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "", int(plan.orders.size()),
                                     QStringLiteral("insert orders"), [&](auto &b, int i) {
                                         const BatchPlan::Order &o = plan.orders[i];
                                         b.text(o.id).text(o.number).text(o.customerId).text(o.status);
                                         b.text(o.overallStatus).text(o.paymentMethodId).text(o.street).text(o.city);
                                         b.text(o.state).text(o.postalCode).text(o.country).integer(o.totalInCents);
                                         b.text(o.traceId).integer(o.createdAt).integer(o.createdAt);
                                     }))
        return fail(e);
    if (StoreError e = st.insertRows("INSERT INTO order_items (order_id, line_no, product_id, product_name, quantity, "
                                     "unit_price_in_cents) VALUES ",
                                     "(?, ?, ?, ?, ?, ?)", "", int(plan.items.size()),
                                     QStringLiteral("insert order items"), [&](auto &b, int n) {
                                         const BatchPlan::Item &i = plan.items[n];
                                         b.text(i.orderId).integer(i.lineNo).text(i.productId).text(i.productName);
                                         b.integer(i.quantity).integer(i.unitPriceInCents);
                                     }))
        return fail(e);
    for (const BatchPlan::Correction &c : plan.corrections) {
        const std::optional<ShippingAddress> &a = c.address;
        if (StoreError e = st.run("UPDATE orders SET payment_method_id = COALESCE(?, payment_method_id), "
                                  "ship_street = COALESCE(?, ship_street), ship_city = COALESCE(?, ship_city), "
                                  "ship_state = COALESCE(?, ship_state), ship_postal_code = COALESCE(?, ship_postal_code), "
                                  "ship_country = COALESCE(?, ship_country) WHERE id = ?",
                                  QStringLiteral("apply retry corrections"), [&](auto &b) {
                                      b.text(c.paymentMethodId.value_or(QString()));
                                      b.text(a ? a->street : QString()).text(a ? a->city : QString());
                                      b.text(a ? a->state : QString()).text(a ? a->postalCode : QString());
                                      b.text(a ? a->country : QString()).text(c.orderId);
                                  }))
            return fail(e);
    }
    if (StoreError e = st.insertRows("INSERT INTO saga_executions (execution_id, order_id, attempt, status, "
                                     "current_step, started_at, completed_at, updated_at, lease_owner, "
                                     "lease_expires_at) VALUES ",
                                     "(?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)", "", int(plan.executions.size()),
                                     QStringLiteral("insert executions"), [&](auto &b, int i) {
                                         const BatchPlan::Execution &x = plan.executions[i];
                                         b.text(x.executionId).text(x.orderId).integer(x.attempt).text(x.status);
                                         b.text(x.currentStep).integer(x.startedAt).integer(x.startedAt);
                                         b.utf8Kept(owner).integer(x.leaseExpiresAt);
                                     }))
        return fail(e);
    for (const BatchPlan::Retry &x : plan.retries) {
        if (StoreError e = st.run("INSERT INTO retry_attempts (order_id, attempt_number, execution_id, initiated_at, "
                                  "resumed_from_step, outcome) VALUES (?, ?, ?, ?, ?, 'IN_PROGRESS')",
                                  QStringLiteral("insert retry attempts"), [&](auto &b) {
                                      b.text(x.orderId).integer(x.attempt).text(x.executionId);
                                      b.integer(x.initiatedAt).text(x.resumedFromStep);
                                  }))
            return fail(e);
    }

    // Executions: final state, only where this engine holds the lease. SQLite
    // rewrites the entries of every index over a column an UPDATE assigns, changed
    // or not, so the status changes of a running execution assign no indexed
    // column; only its end sets completed_at and releases the lease.
    int held = 0;
    for (const BatchPlan::ExecutionUpdate &u : plan.executionUpdates) {
        int changed = 0;
        StoreError e;
        if (u.terminal)
            e = st.run("UPDATE saga_executions SET status = ?, current_step = ?, updated_at = ?, completed_at = ?, "
                       "lease_owner = NULL, lease_expires_at = NULL WHERE execution_id = ? AND lease_owner = ?",
                       QStringLiteral("finish executions"), [&](auto &b) {
                           b.utf8Kept(u.status).utf8Kept(u.currentStep).integer(now).integer(u.completedAt);
                           b.utf8Kept(u.executionId).utf8Kept(owner);
                       }, &changed);
        else
            e = st.run("UPDATE saga_executions SET status = ?, current_step = ?, updated_at = ? "
                       "WHERE execution_id = ? AND lease_owner = ?",
                       QStringLiteral("update executions"), [&](auto &b) {
                           b.utf8Kept(u.status).utf8Kept(u.currentStep).integer(now).utf8Kept(u.executionId);
                           b.utf8Kept(owner);
                       }, &changed);
        if (e)
            return fail(e);
        held += changed;
    }
    const int expected = int(plan.executionUpdates.size());
    if (held != expected)
        return fail(StoreError{StoreError::Conflict, QStringLiteral("lease lost: %1 of %2 executions not held by %3")
                                                        .arg(expected - held)
                                                        .arg(expected)
                                                        .arg(leaseOwner)});

    // A batch has one row per (execution, step), so no two rows of one statement conflict.
    if (StoreError e = st.insertRows("INSERT INTO saga_step_results (execution_id, step_name, status, started_at, "
                                     "completed_at, error_code, error_message, result) VALUES ",
                                     "(?, ?, ?, ?, ?, ?, ?, ?)",
                                     "ON CONFLICT (execution_id, step_name) DO UPDATE SET "
                                     "status = excluded.status, "
                                     "started_at = COALESCE(excluded.started_at, saga_step_results.started_at), "
                                     "completed_at = COALESCE(excluded.completed_at, saga_step_results.completed_at), "
                                     "error_code = COALESCE(excluded.error_code, saga_step_results.error_code), "
                                     "error_message = COALESCE(excluded.error_message, saga_step_results.error_message), "
                                     "result = COALESCE(excluded.result, saga_step_results.result)",
                                     int(plan.stepResults.size()), QStringLiteral("upsert step results"),
                                     [&](auto &b, int i) {
                                         const BatchPlan::StepResult &x = plan.stepResults[i];
                                         b.utf8Kept(x.executionId).utf8Kept(x.stepName).utf8Kept(x.status);
                                         b.integer(x.startedAt);
                                         b.integer(x.completedAt).text(x.errorCode).text(x.errorMessage);
                                         b.utf8Kept(x.result);
                                     }))
        return fail(e);

    if (StoreError e = st.insertRows("INSERT INTO order_events (order_id, seq, position, event_type, step_name, "
                                     "details, created_at) VALUES ",
                                     "(?, ?, ?, ?, ?, ?, ?)", "", int(events.size()), QStringLiteral("insert events"),
                                     [&](auto &b, int i) {
                                         const OrderEvent &ev = events[i];
                                         b.utf8Kept(plan.events[i].orderId).integer(ev.seq).integer(ev.position);
                                         b.utf8Kept(eventTypeUtf8(ev.type));
                                         b.utf8Kept(ev.step ? stepNameUtf8(*ev.step) : QByteArray());
                                         b.utf8Kept(plan.events[i].details).integer(toMs(ev.timestamp));
                                     }))
        return fail(e);

    for (const BatchPlan::OrderUpdate &u : plan.orderUpdates) {
        if (StoreError e = st.run("UPDATE orders SET status = ?, overall_status = ?, updated_at = ?, "
                                  "confirmation_number = COALESCE(?, confirmation_number), "
                                  "total_charged_in_cents = COALESCE(?, total_charged_in_cents), "
                                  "estimated_delivery = COALESCE(?, estimated_delivery) WHERE id = ?",
                                  QStringLiteral("update orders"), [&](auto &b) {
                                      b.text(u.status).text(u.overallStatus).integer(now);
                                      b.text(u.completed ? u.confirmationNumber : QString());
                                      b.integer(u.completed ? std::optional<qint64>(u.totalChargedInCents) : std::nullopt);
                                      b.text(u.completed ? u.estimatedDelivery : QString()).text(u.id);
                                  }))
            return fail(e);
    }

    for (const BatchPlan::RetryOutcome &x : plan.retryOutcomes) {
        if (StoreError e = st.run("UPDATE retry_attempts SET outcome = ? WHERE order_id = ? AND attempt_number = ?",
                                  QStringLiteral("update retry outcome"),
                                  [&](auto &b) { b.text(x.outcome).text(x.orderId).integer(x.attempt); }))
            return fail(e);
    }
    if (StoreError e = st.run("COMMIT", QStringLiteral("commit"), [](auto &) {})) {
        // Busy, locked or full: the commit did not happen (rolled back here). An I/O
        // error may come after the commit frame reached the WAL: unknown.
        const bool ioError = st.lastPrimaryError() == 10 /*SQLITE_IOERR*/;
        e = fail(e);
        e.notWritten = !ioError;
        return e;
    }
    return {};
}

StoreResult<std::optional<OrderEvent>> SagaStore::findEvent(const QUuid &orderId, qint64 seq)
{
    StoreResult<std::optional<OrderEvent>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT %1 FROM order_events WHERE order_id = %2 AND seq = %3")
                              .arg(QLatin1String(kEventColumns), d->lit(idText(orderId)))
                              .arg(seq),
                          QStringLiteral("find event"))))
        return r;
    if (q.next())
        r.value = d->eventFromQuery(q);
    return r;
}

StoreResult<QVector<ClaimedExecution>> SagaStore::claimSagas(const QString &leaseOwner, qint64 leaseMs, int limit,
                                                             bool includeOwn)
{
    StoreResult<QVector<ClaimedExecution>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    if ((r.error = d->sqliteFileGone()))
        return r;
    const QString now = d->leaseNowSql();
    auto fail = [&](StoreError e) {
        d->rollback();
        r.error = e;
        r.value.clear();
        return r;
    };
    if ((r.error = d->begin()))
        return fail(r.error);
    QSqlQuery q(d->db());
    const QString sql = QStringLiteral(
        "SELECT execution_id, order_id, attempt FROM saga_executions WHERE completed_at IS NULL AND status IN %1 "
        "AND (lease_owner IS NULL OR lease_expires_at < %2%3) ORDER BY started_at LIMIT %4%5")
                            .arg(kActiveStatuses, now,
                                 includeOwn ? QStringLiteral(" OR lease_owner = ") + d->lit(leaseOwner) : QString(),
                                 QString::number(qBound(1, limit, 10000)),
                                 d->pg() ? QStringLiteral(" FOR UPDATE SKIP LOCKED") : QString());
    if (StoreError e = d->run(q, sql, QStringLiteral("claim sagas")))
        return fail(e);
    QStringList ids;
    while (q.next()) {
        r.value.append(ClaimedExecution{q.value(0).toString(), QUuid::fromString(q.value(1).toString()), q.value(2).toInt()});
        ids << d->lit(q.value(0).toString());
    }
    q.finish();
    if (!ids.isEmpty()) {
        if (StoreError e = d->exec(QStringLiteral("UPDATE saga_executions SET lease_owner = %1, lease_expires_at = %2 + %3 "
                                                  "WHERE execution_id IN (%4)")
                                       .arg(d->lit(leaseOwner), now, QString::number(leaseMs),
                                            ids.join(QLatin1Char(','))),
                                   QStringLiteral("take leases")))
            return fail(e);
    }
    if (StoreError e = d->commit())
        return fail(e);
    return r;
}

StoreResult<int> SagaStore::renewLeases(const QString &leaseOwner, qint64 leaseMs)
{
    StoreResult<int> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    if ((r.error = d->sqliteFileGone()))
        return r;
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("UPDATE saga_executions SET lease_expires_at = %1 + %2 WHERE lease_owner = %3 "
                                         "AND completed_at IS NULL AND status IN %4")
                              .arg(d->leaseNowSql(), QString::number(leaseMs), d->lit(leaseOwner), kActiveStatuses),
                          QStringLiteral("renew leases"))))
        return r;
    r.value = q.numRowsAffected();
    return r;
}

void SagaStore::setClockSkewForTesting(qint64 skewMs)
{
    d->clockSkewMs = skewMs;
}

StoreError SagaStore::releaseLeases(const QString &leaseOwner, const QStringList &executionIds)
{
    if (!isOpen())
        return d->notOpen();
    QString sql = QStringLiteral("UPDATE saga_executions SET lease_owner = NULL, lease_expires_at = NULL "
                                 "WHERE lease_owner = %1")
                      .arg(d->lit(leaseOwner));
    if (!executionIds.isEmpty()) {
        QStringList lits;
        for (const QString &id : executionIds)
            lits << d->lit(id);
        sql += QStringLiteral(" AND execution_id IN (%1)").arg(lits.join(QLatin1Char(',')));
    }
    return d->exec(sql, QStringLiteral("release leases"));
}

StoreResult<ExecutionRecord> SagaStore::latestExecution(const QUuid &orderId)
{
    StoreResult<ExecutionRecord> r;
    auto all = executions(orderId);
    if (!all.ok()) {
        r.error = all.error;
        return r;
    }
    if (all.value.isEmpty()) {
        r.error = StoreError{StoreError::NotFound, QStringLiteral("order not found")};
        return r;
    }
    r.value = all.value.last();
    return r;
}

StoreResult<std::optional<OrderEvent>> SagaStore::lastSagaFailure(const QUuid &orderId)
{
    StoreResult<std::optional<OrderEvent>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT %1 FROM order_events WHERE order_id = %2 ORDER BY seq DESC LIMIT 1")
                              .arg(QLatin1String(kEventColumns), d->lit(idText(orderId))),
                          QStringLiteral("last event"))))
        return r;
    if (q.next()) {
        OrderEvent e = d->eventFromQuery(q);
        if (e.type == EventType::SagaFailed)
            r.value = e;
    }
    return r;
}

StoreResult<RetryRecord> SagaStore::retryRecord(const QUuid &orderId)
{
    StoreResult<RetryRecord> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    // SQLite (WAL): a deferred transaction reads one snapshot from its first read on.
    if ((r.error = d->exec(d->pg() ? QStringLiteral("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                                   : QStringLiteral("BEGIN"),
                           QStringLiteral("begin a read"))))
        return r;
    auto read = [&]() -> StoreError {
        auto latest = latestExecution(orderId);
        if (!latest.ok())
            return latest.error;
        r.value.latest = latest.value;
        if (d->betweenRetryReads)
            d->betweenRetryReads();
        auto failure = lastSagaFailure(orderId);
        if (!failure.ok())
            return failure.error;
        r.value.lastFailure = failure.value;
        auto attempts = retryAttempts(orderId);
        if (!attempts.ok())
            return attempts.error;
        r.value.attempts = attempts.value;
        return {};
    };
    r.error = read();
    d->rollback(); // it changed nothing
    return r;
}

void SagaStore::setBetweenRetryReadsForTesting(std::function<void()> hook)
{
    d->betweenRetryReads = std::move(hook);
}

bool SagaStore::endedWhileIdle()
{
    return d->pg() && PgCopy::endedWhileIdle(d->db());
}
