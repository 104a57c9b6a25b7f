// The database source against a real PostgreSQL: an EngineHost drives sagas
// into the database; the source LISTENs, reads the events after each NOTIFY,
// survives pg_terminate_backend (reconnects, re-subscribes, catches up).

#include "databasesource.h"
#include "enginehost.h"
#include "eventbatcher.h"
#include "guitesthelpers.h"
#include "orderpresets.h"
#include "ordertreemodel.h"
#include "sagastore.h"
#include "sqlstatements.h"
#include "testservices.h"

#include <QAbstractItemModelTester>
#include <QDeadlineTimer>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTest>

#include <QDir>
#include <QFile>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QScopeGuard>
#include <csignal>
#include <sys/types.h>

namespace {
constexpr int kTimeout = 60000;

QUuid submit(EngineHost *engine, const OrderRequest &request, QString *error)
{
    QUuid id;
    bool answered = false;
    QObject context;
    engine->submitOrder(request, &context, [&](SubmitResult r) {
        answered = true;
        id = r.orderId;
        *error = r.error.message;
    });
    if (!QTest::qWaitFor([&] { return answered; }, kTimeout))
        *error = QStringLiteral("no answer from the engine");
    return id;
}

// Starts `engine` and waits for it: empty, or why it did not start.
QString startEngine(EngineHost &engine)
{
    QSignalSpy started(&engine, &EngineHost::started);
    QSignalSpy startFailed(&engine, &EngineHost::startFailed);
    engine.start();
    if (!QTest::qWaitFor([&] { return started.count() + startFailed.count() > 0; }, kTimeout))
        return QStringLiteral("the engine did not start in time");
    return startFailed.isEmpty() ? QString() : startFailed.first().first().toString();
}

bool allTerminal(const OrderTreeModel &model, const QVector<QUuid> &ids)
{
    return std::all_of(ids.cbegin(), ids.cend(), [&](const QUuid &id) {
        const OrderProgress *p = model.order(id);
        return p && p->isTerminal();
    });
}

// Places `presets` through an engine of its own on `url` and stops it: the ids.
QVector<QUuid> placeWithEngine(const DatabaseUrl &url, const QVector<OrderPreset> &presets, QString *error)
{
    EngineConfig config;
    config.database = url;
    config.stepDelayMs = 5;
    EngineHost engine(config);
    *error = startEngine(engine);
    QVector<QUuid> ids;
    if (!error->isEmpty())
        return ids;
    OrderTreeModel ended; // to wait for every saga's end before the engine stops
    QObject::connect(&engine, &EngineHost::eventsCommitted, &ended, &OrderTreeModel::applyEvents);
    for (OrderPreset p : presets) {
        ids << submit(&engine, OrderPresets::make(p), error);
        if (!error->isEmpty())
            return {};
    }
    if (!QTest::qWaitFor([&] { return allTerminal(ended, ids); }, kTimeout))
        *error = QStringLiteral("the sagas did not end in time");
    return ids;
}

// The model's order ids.
QSet<QUuid> shownIds(const OrderTreeModel &model)
{
    QSet<QUuid> ids;
    for (int row = 0; row < model.rowCount(); ++row)
        ids.insert(model.index(row, 0).data(OrderTreeModel::OrderIdRole).toUuid());
    return ids;
}

// A new, empty database on the test's PostgreSQL server; none, and *error, when it
// could not be made.
std::optional<DatabaseUrl> newDatabase(QString *error)
{
    const QString text = TestServices::newPostgresDatabase(error);
    if (text.isEmpty())
        return std::nullopt;
    return DatabaseUrl::parse(text, error);
}

// A new login role for `url`'s database (roles are the server's, so named after the
// database), with SELECT on `tables` ("ALL TABLES IN SCHEMA public" for all): the
// URL to read as it, or an empty user and *error.
DatabaseUrl roleWithSelectOn(const DatabaseUrl &url, const QString &prefix, const QString &tables, QString *error)
{
    DatabaseUrl as = url;
    as.user = prefix + QLatin1Char('_') + url.database;
    if (!TestServices::postgresAdmin(QStringLiteral("DROP ROLE IF EXISTS %1").arg(as.user), error)
        || !TestServices::postgresAdmin(QStringLiteral("CREATE ROLE %1 LOGIN").arg(as.user), error)) {
        as.user.clear();
        return as;
    }
    *error = runInDatabase(url, {QStringLiteral("GRANT SELECT ON %1 TO %2").arg(tables, as.user)});
    if (!error->isEmpty())
        as.user.clear();
    return as;
}

bool noDriverText(const QString &sentence)
{
    return !sentence.contains(QLatin1String("QPSQL")) && !sentence.contains(QLatin1String("ERROR:"))
        && !sentence.contains(QRegularExpression(QStringLiteral("\\([0-9A-Z]{5}\\)")))
        && !sentence.contains(QLatin1Char('\n'));
}

// A model fed by `source` the way MainWindow feeds it (a replaced source's orders dropped).
struct Viewer {
    OrderTreeModel model;
    EventBatcher batcher{&model};
    explicit Viewer(ProgressSource &source)
    {
        QObject::connect(&source, &ProgressSource::snapshotsReady, &batcher, &EventBatcher::addSnapshots);
        QObject::connect(&source, &ProgressSource::eventsReady, &batcher, &EventBatcher::addEvents);
        QObject::connect(&source, &ProgressSource::contentsReplaced, &batcher, [this] {
            batcher.clear();
            model.clear();
        });
    }
};
} // namespace

class tst_DatabaseSource : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void liveThroughNotifyAndCatchUpAfterTermination();
    void refusedDatabaseSaysWhatToDo();
    void outageKeepsSayingWhyAndIsLoggedOnce();
    void readOnlyRoleIsEnough();
    void droppedAndCreatedAgainIsReloaded();
    void sqliteFileReplacedIsFollowed();
    void sqliteFolderNotWritableIsSaid();
    void frozenServerIsSaidStaleUntilItAnswers();
    void refusedReadBacksOffAndIsLoggedOnce();
    void missingRightsAndTablesAreNamed();
    void terminatedConnectionSaysTheServersWords();
    void restoredHistoryThatGrewIsReloaded();

private:
    QString m_url;
};

void tst_DatabaseSource::initTestCase()
{
    QString error;
    m_url = TestServices::newPostgresDatabase(&error);
    if (m_url.isEmpty())
        QFAIL(qPrintable(QStringLiteral("PostgreSQL is not available: %1").arg(error)));
}

void tst_DatabaseSource::liveThroughNotifyAndCatchUpAfterTermination()
{
    QString error;
    const std::optional<DatabaseUrl> url = DatabaseUrl::parse(m_url, &error);
    QVERIFY2(url, qPrintable(error));
    EngineConfig config;
    config.database = *url;
    config.stepDelayMs = 10;
    EngineHost engine(config);
    error = startEngine(engine);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    // Orders that exist before the source starts.
    QVector<QUuid> ids;
    for (OrderPreset p : {OrderPreset::HappyPath, OrderPreset::DeclinedCard}) {
        ids << submit(&engine, OrderPresets::make(p), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }

    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    EventBatcher batcher(&model);
    QSignalSpy rejected(&model, &OrderTreeModel::eventRejected);
    QVERIFY(rejected.isValid());
    DatabaseSource source(*url);
    source.setHealthCheckInterval(300);
    QSignalSpy loaded(&source, &ProgressSource::initialLoadFinished);
    QSignalSpy states(&source, &ProgressSource::connectionStateChanged);
    QVERIFY(loaded.isValid() && states.isValid());
    connect(&source, &ProgressSource::snapshotsReady, &batcher, &EventBatcher::addSnapshots);
    connect(&source, &ProgressSource::eventsReady, &batcher, &EventBatcher::addEvents);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QVERIFY(!source.canPlaceOrders() && !source.canInjectFaults() && !source.canRetry());
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(model, ids), kTimeout);

    // Live, through NOTIFY.
    QVector<QUuid> live;
    for (OrderPreset p : {OrderPreset::HappyPath, OrderPreset::InvalidAddress, OrderPreset::OutOfStock}) {
        live << submit(&engine, OrderPresets::make(p), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(model, live), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(source.notificationCount() > 0, kTimeout);
    QCOMPARE(toString(model.order(live.at(1))->overallStatus), QStringLiteral("ROLLED_BACK"));

    // The source's connection is killed: QPSQL says nothing and forgets the LISTEN.
    const int reconnectsBefore = source.reconnectCount();
    QVERIFY2(TestServices::postgresAdmin(
                 QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%1' "
                                "AND pid <> pg_backend_pid()")
                     .arg(url->database),
                 &error),
             qPrintable(error));
    // Sagas committed while the source is away (the engine reconnects on its own).
    QVector<QUuid> whileAway;
    for (OrderPreset p : {OrderPreset::HappyPath, OrderPreset::Fraud}) {
        // The first submissions may meet the engine's own killed connection; the engine
        // refuses at once while it reconnects with backoff (100 ms, doubling): try again
        // for as long as the other waits here, not a number of immediate refusals.
        QUuid id;
        QDeadlineTimer deadline(kTimeout);
        while (id.isNull() && !deadline.hasExpired()) {
            id = submit(&engine, OrderPresets::make(p), &error);
            if (id.isNull()) {
                qInfo("submit refused (%s); trying again", qPrintable(error));
                QTest::qWait(100);
            }
        }
        QVERIFY2(!id.isNull(), qPrintable(error));
        whileAway << id;
    }
    QTRY_VERIFY_WITH_TIMEOUT(source.reconnectCount() > reconnectsBefore, kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(model, whileAway), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    bool sawStale = false;
    for (const QList<QVariant> &s : std::as_const(states))
        sawStale |= s.first().value<ProgressSource::State>() == ProgressSource::State::Stale;
    QVERIFY(sawStale);

    // Subscribed again: new events arrive through NOTIFY once more.
    const int notificationsBefore = source.notificationCount();
    const QUuid after = submit(&engine, OrderPresets::make(OrderPreset::HappyPath), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(model, {after}), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(source.notificationCount() > notificationsBefore, kTimeout);
    QVERIFY(model.orderCount() >= 8);
    QCOMPARE(rejected.count(), 0);
    source.stop();
}

void tst_DatabaseSource::refusedDatabaseSaysWhatToDo()
{
    QString error;
    std::optional<DatabaseUrl> url = DatabaseUrl::parse(m_url, &error);
    QVERIFY(url);
    url->database = QStringLiteral("no_such_database_%1").arg(QRandomGenerator::global()->bounded(100000));
    DatabaseSource source(*url);
    source.start();
    QTRY_VERIFY_WITH_TIMEOUT(source.state() == ProgressSource::State::Reconnecting
                                 || source.state() == ProgressSource::State::Stale,
                             kTimeout);
    QVERIFY2(source.stateMessage().contains(QLatin1String("Cannot read the database")), qPrintable(source.stateMessage()));
    QVERIFY(source.stateMessage().contains(QLatin1String("keeps trying")));
    source.stop();

    // A SQLite path that names no file (a typo): said so, and no empty database made there.
    const QString missing = TestServices::tempDir() + QStringLiteral("/no-such-file.sqlite");
    std::optional<DatabaseUrl> file = DatabaseUrl::parse(QStringLiteral("sqlite:") + missing, &error);
    QVERIFY2(file, qPrintable(error));
    DatabaseSource reader(*file);
    reader.start();
    QTRY_COMPARE_WITH_TIMEOUT(reader.state(), ProgressSource::State::Reconnecting, kTimeout);
    QVERIFY2(reader.stateMessage().contains(QLatin1String("does not exist")), qPrintable(reader.stateMessage()));
    QVERIFY2(reader.stateMessage().contains(QLatin1String("Check the file's path")), qPrintable(reader.stateMessage()));
    QVERIFY(!QFile::exists(missing));
    reader.stop();
}

// A database that refuses connections for a while (ALLOW_CONNECTIONS false): the
// source retries with backoff, and all the while its state and sentence say why,
// without flickering to "Reconnecting…" at each attempt; the reason is logged once
// per outage (again only when it changes), not once per retry.
void tst_DatabaseSource::outageKeepsSayingWhyAndIsLoggedOnce()
{
    QString error;
    const std::optional<DatabaseUrl> url = newDatabase(&error);
    QVERIFY2(url, qPrintable(error));
    {
        SagaStore schema(*url, QStringLiteral("tst-databasesource-schema")); // the source reads; a writer makes the schema
        const StoreError opened = schema.open();
        QVERIFY2(!opened, qPrintable(opened.message));
    }
    auto admin = [&](const QString &sql) {
        QString adminError;
        const bool ok = TestServices::postgresAdmin(sql, &adminError);
        if (!ok)
            qWarning("admin: %s", qPrintable(adminError));
        return ok;
    };
    const QString refuse = QStringLiteral("ALTER DATABASE %1 ALLOW_CONNECTIONS false").arg(url->database);
    const QString allow = QStringLiteral("ALTER DATABASE %1 ALLOW_CONNECTIONS true").arg(url->database);
    const QString terminate = QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                             "WHERE datname = '%1' AND pid <> pg_backend_pid()")
                                  .arg(url->database);

    DatabaseSource source(*url);
    source.setHealthCheckInterval(200);
    QSignalSpy states(&source, &ProgressSource::connectionStateChanged);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);

    GuiTest::WarningLog log;
    const int reconnectsBefore = source.reconnectCount();
    QVERIFY(admin(refuse) && admin(terminate));
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Stale, kTimeout);
    states.clear();
    // Attempts after backoffs of 0.5, 1, 2 and 4 s, each refused.
    QTRY_VERIFY_WITH_TIMEOUT(source.reconnectCount() >= reconnectsBefore + 4, kTimeout);
    const bool allowed = admin(allow);
    QVERIFY(allowed);

    // The first loss (the connection was terminated) and the refusal that every
    // retry met: at most two reasons, each logged and shown once.
    QVERIFY2(log.count(QStringLiteral("connection lost")) >= 1, "the outage was not logged");
    QVERIFY2(log.count(QStringLiteral("connection lost")) <= 2,
             qPrintable(QStringLiteral("logged %1 times").arg(log.count(QStringLiteral("connection lost")))));
    QVERIFY2(states.count() <= 1, qPrintable(QStringLiteral("%1 state changes during one outage").arg(states.count())));
    for (const QList<QVariant> &s : std::as_const(states))
        QCOMPARE(s.first().value<ProgressSource::State>(), ProgressSource::State::Stale);
    QVERIFY2(source.stateMessage().contains(QLatin1String("Cannot read the database")), qPrintable(source.stateMessage()));
    QVERIFY2(source.stateMessage().contains(QLatin1String("keeps trying")), qPrintable(source.stateMessage()));
    // The server's words, once and on one line: not the URL twice, not the driver's "Unable to connect".
    QVERIFY2(source.stateMessage().contains(QLatin1String("is not currently accepting connections")),
             qPrintable(source.stateMessage()));
    QCOMPARE(source.stateMessage().count(url->toString()), 1);
    QVERIFY2(!source.stateMessage().contains(QLatin1Char('\n')) && !source.stateMessage().contains(QLatin1String("QPSQL")),
             qPrintable(source.stateMessage()));

    // Back: live again, and the next outage is a new one, logged again.
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    const int loggedBefore = log.count(QStringLiteral("connection lost"));
    QVERIFY(admin(terminate));
    QTRY_VERIFY_WITH_TIMEOUT(log.count(QStringLiteral("connection lost")) > loggedBefore, kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    source.stop();
}

// Support agents read production with a role that may only SELECT: the source
// reads, and changes nothing (no migrations, no schema table).
void tst_DatabaseSource::readOnlyRoleIsEnough()
{
    QString error;
    std::optional<DatabaseUrl> url = newDatabase(&error);
    QVERIFY2(url, qPrintable(error));
    QUuid id;
    {
        EngineConfig config;
        config.database = *url;
        EngineHost engine(config);
        error = startEngine(engine);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        id = submit(&engine, OrderPresets::make(OrderPreset::HappyPath), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }
    const QString role = QStringLiteral("reader_%1").arg(url->database);
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("DROP ROLE IF EXISTS %1").arg(role), &error), qPrintable(error));
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("CREATE ROLE %1 LOGIN").arg(role), &error), qPrintable(error));
    // GRANT works inside the database: through a superuser connection to it.
    {
        const QString conn = QStringLiteral("tst-grant-%1").arg(QRandomGenerator::global()->generate());
        {
            QSqlDatabase db = url->addConnection(conn);
            QVERIFY2(db.open(), qPrintable(db.lastError().text()));
            QSqlQuery q(db);
            QVERIFY2(q.exec(QStringLiteral("GRANT SELECT ON ALL TABLES IN SCHEMA public TO %1").arg(role)),
                     qPrintable(q.lastError().text()));
        }
        QSqlDatabase::removeDatabase(conn);
    }
    DatabaseUrl readOnly = *url;
    readOnly.user = role;
    DatabaseSource source(readOnly);
    QSignalSpy loaded(&source, &ProgressSource::initialLoadFinished);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QCOMPARE(loaded.first().first().toInt(), 1);
    QCOMPARE(source.state(), ProgressSource::State::Live);
    source.stop();
}


// The database is dropped and created again under the console (another database
// with the same name, its positions starting over): the source says so and shows
// what the new one holds, never a mix of both.
void tst_DatabaseSource::droppedAndCreatedAgainIsReloaded()
{
    QString error;
    const std::optional<DatabaseUrl> fresh = newDatabase(&error);
    QVERIFY2(fresh, qPrintable(error));
    const DatabaseUrl url = *fresh;
    const QVector<QUuid> before = placeWithEngine(
        url, {OrderPreset::HappyPath, OrderPreset::DeclinedCard, OrderPreset::HappyPath, OrderPreset::Fraud}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    DatabaseSource source(url);
    source.setHealthCheckInterval(200);
    Viewer viewer(source);
    QSignalSpy loaded(&source, &ProgressSource::initialLoadFinished);
    QSignalSpy replaced(&source, &ProgressSource::contentsReplaced);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(shownIds(viewer.model), QSet<QUuid>(before.cbegin(), before.cend()), kTimeout);
    const QString identityBefore = source.databaseIdentity();
    QVERIFY(!identityBefore.isEmpty());

    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("DROP DATABASE %1 WITH (FORCE)").arg(url.database), &error),
             qPrintable(error));
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("CREATE DATABASE %1").arg(url.database), &error),
             qPrintable(error));
    const QVector<QUuid> after = placeWithEngine(url, {OrderPreset::HappyPath}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    QTRY_COMPARE_WITH_TIMEOUT(replaced.count(), 1, kTimeout);
    QVERIFY2(replaced.first().first().toString().contains(QLatin1String("another database")),
             qPrintable(replaced.first().first().toString()));
    QTRY_COMPARE_WITH_TIMEOUT(shownIds(viewer.model), QSet<QUuid>(after.cbegin(), after.cend()), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(viewer.model, after), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 2, kTimeout); // (the load's chunks reach the model before it ends)
    QVERIFY(source.databaseIdentity() != identityBefore);
    QCOMPARE(source.state(), ProgressSource::State::Live);
    source.stop();
}

// `sqlite:PATH`: another saga database renamed over the file being read (a backup
// put back, say) is followed, and shown instead of the old one.
void tst_DatabaseSource::sqliteFileReplacedIsFollowed()
{
    QString error;
    const QString path = TestServices::tempDir() + QStringLiteral("/followed.sqlite");
    const QString other = TestServices::tempDir() + QStringLiteral("/other.sqlite");
    const DatabaseUrl url = *DatabaseUrl::parse(QStringLiteral("sqlite:") + path, &error);
    const DatabaseUrl otherUrl = *DatabaseUrl::parse(QStringLiteral("sqlite:") + other, &error);
    const QVector<QUuid> first =
        placeWithEngine(url, {OrderPreset::HappyPath, OrderPreset::OutOfStock, OrderPreset::HappyPath}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QVector<QUuid> second = placeWithEngine(otherUrl, {OrderPreset::InvalidAddress}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    DatabaseSource source(url);
    source.setHealthCheckInterval(100);
    Viewer viewer(source);
    QSignalSpy replaced(&source, &ProgressSource::contentsReplaced);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(shownIds(viewer.model), QSet<QUuid>(first.cbegin(), first.cend()), kTimeout);

    QFile::remove(other + QStringLiteral("-wal")); // (the engine checkpointed it on close)
    QVERIFY(::rename(QFile::encodeName(other).constData(), QFile::encodeName(path).constData()) == 0);
    QFile::remove(path + QStringLiteral("-wal"));
    QFile::remove(path + QStringLiteral("-shm"));

    QTRY_COMPARE_WITH_TIMEOUT(replaced.count(), 1, kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(shownIds(viewer.model), QSet<QUuid>(second.cbegin(), second.cend()), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    source.stop();
}

// `sqlite:PATH` of a database in WAL mode (as the engine leaves it) in a folder this
// user may not write: SQLite must create PATH-wal and PATH-shm there to read it. The
// source says the folder is the problem, not "Check the file's path" (SQLite's
// "unable to open database file"), and shows the orders once the folder is writable.
void tst_DatabaseSource::sqliteFolderNotWritableIsSaid()
{
    QString error;
    const QString folder = TestServices::tempDir() + QStringLiteral("/kept");
    QVERIFY(QDir().mkpath(folder));
    const QString path = folder + QStringLiteral("/sagas.sqlite");
    const DatabaseUrl url = *DatabaseUrl::parse(QStringLiteral("sqlite:") + path, &error);
    const QVector<QUuid> ids = placeWithEngine(url, {OrderPreset::HappyPath}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(!QFile::exists(path + QStringLiteral("-wal"))); // (the engine checkpointed it on close)
    QVERIFY2(TestServices::setWritable(folder, false, &error), qPrintable(error));
    auto writableAgain = qScopeGuard([&] { TestServices::setWritable(folder, true, nullptr); });

    DatabaseSource source(url);
    Viewer viewer(source);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Reconnecting, kTimeout);
    const QString said = source.stateMessage();
    QVERIFY2(said.contains(QStringLiteral("may not write in its folder ") + folder), qPrintable(said));
    QVERIFY2(said.contains(QLatin1String("sagas.sqlite-wal and sagas.sqlite-shm")), qPrintable(said));
    QVERIFY2(said.contains(QLatin1String("make the folder writable")), qPrintable(said));
    QVERIFY2(!said.contains(QLatin1String("Check the file's path")), qPrintable(said));
    QVERIFY2(!said.contains(QLatin1String("unable to open")), qPrintable(said));

    QVERIFY2(TestServices::setWritable(folder, true, &error), qPrintable(error));
    writableAgain.dismiss();
    QTRY_COMPARE_WITH_TIMEOUT(shownIds(viewer.model), QSet<QUuid>(ids.cbegin(), ids.cend()), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    source.stop();
}

// The server process behind the source's connection is frozen (SIGSTOP): the
// connection stays up and no query answers. The source says so (Stale, why) instead
// of showing "live" indefinitely, and is live again once the server answers.
void tst_DatabaseSource::frozenServerIsSaidStaleUntilItAnswers()
{
    QString error;
    const std::optional<DatabaseUrl> fresh = newDatabase(&error);
    QVERIFY2(fresh, qPrintable(error));
    const DatabaseUrl url = *fresh;
    const QVector<QUuid> ids = placeWithEngine(url, {OrderPreset::HappyPath}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    DatabaseSource source(url);
    source.setHealthCheckInterval(100);
    source.setAnswerTimeout(1000);
    Viewer viewer(source);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(viewer.model, ids), kTimeout);

    // The source's backend: the only connection to this database but ours.
    qint64 pid = 0;
    const QString conn = QStringLiteral("tst-pid-%1").arg(QRandomGenerator::global()->generate());
    {
        QSqlDatabase db = url.addConnection(conn);
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QSqlQuery q(db);
        QVERIFY2(q.exec(QStringLiteral("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")),
                 qPrintable(q.lastError().text()));
        QVERIFY(q.next());
        pid = q.value(0).toLongLong();
        QVERIFY2(!q.next(), "more than one other connection");
    }
    QSqlDatabase::removeDatabase(conn);
    QVERIFY(pid > 0);
    QVERIFY(::kill(pid_t(pid), SIGSTOP) == 0);
    struct Resume {
        qint64 pid;
        ~Resume() { ::kill(pid_t(pid), SIGCONT); }
    } resume{pid};

    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Stale, kTimeout);
    QVERIFY2(source.stateMessage().contains(QLatin1String("has not answered")), qPrintable(source.stateMessage()));
    QCOMPARE(viewer.model.orderCount(), 1); // what it showed stays

    QVERIFY(::kill(pid_t(pid), SIGCONT) == 0);
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    source.stop();
}

// The role loses SELECT on order_events while the console shows the database: the
// catch-up fails on a connection that works. The source kept "reconnecting" (the
// connection answered SELECT 1), which reset the backoff and the logged reason, and
// failed again: twice a second, a warning each time, forever. Now the backoff grows
// until a catch-up succeeds, the reason is logged once, and the banner names the
// table and the right the role needs.
void tst_DatabaseSource::refusedReadBacksOffAndIsLoggedOnce()
{
    QString error;
    const std::optional<DatabaseUrl> fresh = newDatabase(&error);
    QVERIFY2(fresh, qPrintable(error));
    const DatabaseUrl url = *fresh;
    const QVector<QUuid> before = placeWithEngine(url, {OrderPreset::HappyPath}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const DatabaseUrl reader = roleWithSelectOn(url, QStringLiteral("revoked"), QStringLiteral("ALL TABLES IN SCHEMA public"), &error);
    QVERIFY2(!reader.user.isEmpty(), qPrintable(error));

    DatabaseSource source(reader);
    source.setHealthCheckInterval(100);
    Viewer viewer(source);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(viewer.model, before), kTimeout);

    GuiTest::WarningLog log;
    error = runInDatabase(url, {QStringLiteral("REVOKE SELECT ON order_events FROM %1").arg(reader.user)});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QVector<QUuid> meanwhile = placeWithEngine(url, {OrderPreset::DeclinedCard}, &error); // to catch up on
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Stale, kTimeout);
    const int retriesBefore = source.reconnectCount();
    QTRY_VERIFY_WITH_TIMEOUT(source.reconnectCount() >= retriesBefore + 4, kTimeout);

    QCOMPARE(log.count(QStringLiteral("order_events")), 1);
    QVERIFY2(source.retryDelayMs() > 4000, qPrintable(QString::number(source.retryDelayMs())));
    const QString banner = source.stateMessage();
    QCOMPARE(source.state(), ProgressSource::State::Stale);
    QVERIFY2(banner.contains(QLatin1String("no SELECT on table order_events")), qPrintable(banner));
    QVERIFY2(banner.contains(QStringLiteral("GRANT SELECT ON ALL TABLES IN SCHEMA public TO %1").arg(reader.user)),
             qPrintable(banner));
    QVERIFY2(!banner.contains(QLatin1String("PostgreSQL runs")), qPrintable(banner));
    QVERIFY2(noDriverText(banner), qPrintable(banner));
    QCOMPARE(viewer.model.orderCount(), 1); // what it showed stays

    // Allowed again: live, caught up, and the next failure starts from the first pause again.
    error = runInDatabase(url, {QStringLiteral("GRANT SELECT ON order_events TO %1").arg(reader.user)});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(viewer.model, meanwhile), kTimeout);
    QCOMPARE(source.retryDelayMs(), 500);
    source.stop();
}

// What keeps the console from showing a database is named as such, without the
// driver's words: a role without SELECT on some tables (on a first start), and the
// tables dropped under a console that shows them (the connection still works:
// "relation ... does not exist" is the schema gone, not PostgreSQL down).
void tst_DatabaseSource::missingRightsAndTablesAreNamed()
{
    QString error;
    const std::optional<DatabaseUrl> fresh = newDatabase(&error);
    QVERIFY2(fresh, qPrintable(error));
    const DatabaseUrl url = *fresh;
    const QVector<QUuid> ids = placeWithEngine(url, {OrderPreset::HappyPath}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    const DatabaseUrl partial = roleWithSelectOn(url, QStringLiteral("partial"),
                                                 QStringLiteral("schema_version, saga_counters, orders"), &error);
    QVERIFY2(!partial.user.isEmpty(), qPrintable(error));
    {
        DatabaseSource source(partial);
        source.start();
        QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Reconnecting, kTimeout);
        const QString banner = source.stateMessage();
        QVERIFY2(banner.contains(QStringLiteral("the role %1 has no SELECT on tables").arg(partial.user)),
                 qPrintable(banner));
        for (const char *table : {"order_events", "order_items", "retry_attempts", "saga_executions", "saga_step_results"})
            QVERIFY2(banner.contains(QLatin1String(table)), qPrintable(banner));
        QVERIFY2(!banner.contains(QLatin1String("saga_counters")), qPrintable(banner));
        QVERIFY2(banner.contains(QLatin1String("needs SELECT")), qPrintable(banner));
        QVERIFY2(!banner.contains(QLatin1String("PostgreSQL runs")), qPrintable(banner));
        QVERIFY2(noDriverText(banner), qPrintable(banner));
        source.stop();
    }

    DatabaseSource source(url);
    source.setHealthCheckInterval(100);
    Viewer viewer(source);
    QSignalSpy states(&source, &ProgressSource::connectionStateChanged);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(viewer.model, ids), kTimeout);
    GuiTest::WarningLog log;
    states.clear();
    error = runInDatabase(url, {QStringLiteral("DROP SCHEMA public CASCADE"), QStringLiteral("CREATE SCHEMA public")});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Stale, kTimeout);
    const int retriesBefore = source.reconnectCount();
    QTRY_VERIFY_WITH_TIMEOUT(source.reconnectCount() >= retriesBefore + 3, kTimeout);
    const QString banner = source.stateMessage();
    QVERIFY2(banner.contains(QLatin1String("has no Saga Console tables")), qPrintable(banner));
    QVERIFY2(!banner.contains(QLatin1String("PostgreSQL runs")), qPrintable(banner));
    QVERIFY2(noDriverText(banner) && !banner.contains(QLatin1String("relation")), qPrintable(banner));
    // One sentence all along (no raw SQL error first), logged once.
    QCOMPARE(states.count(), 1);
    QCOMPARE(log.count(QStringLiteral("no Saga Console tables")), 1);
    QCOMPARE(viewer.model.orderCount(), 1);
    source.stop();
}

// The server ends the source's idle connection (pg_terminate_backend): the banner
// gives the server's reason, not "database connection is not open" (QPSQL, reading
// the socket for notifications, had swallowed it).
void tst_DatabaseSource::terminatedConnectionSaysTheServersWords()
{
    QString error;
    const std::optional<DatabaseUrl> fresh = newDatabase(&error);
    QVERIFY2(fresh, qPrintable(error));
    const DatabaseUrl url = *fresh;
    const QVector<QUuid> ids = placeWithEngine(url, {OrderPreset::HappyPath}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    DatabaseSource source(url);
    source.setHealthCheckInterval(300);
    QSignalSpy states(&source, &ProgressSource::connectionStateChanged);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    states.clear();
    QVERIFY2(TestServices::postgresAdmin(
                 QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%1' "
                                "AND pid <> pg_backend_pid()")
                     .arg(url.database),
                 &error),
             qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(!states.isEmpty(), kTimeout);
    QCOMPARE(states.first().first().value<ProgressSource::State>(), ProgressSource::State::Stale);
    const QString banner = states.first().at(1).toString();
    QVERIFY2(banner.contains(QLatin1String("terminating connection due to administrator command")), qPrintable(banner));
    QVERIFY2(noDriverText(banner), qPrintable(banner));
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    source.stop();
}

// A backup restored into the same database while the console's role was locked
// out, then used on until its history grew past the positions the console showed:
// the same database (oid), its positions only forward. The console caught up from
// its old position and showed a mix of both (orders no longer there, order numbers
// of other orders); now it sees that the event it showed last is not at its
// position any more and shows what the database holds.
void tst_DatabaseSource::restoredHistoryThatGrewIsReloaded()
{
    QString error;
    const std::optional<DatabaseUrl> fresh = newDatabase(&error);
    QVERIFY2(fresh, qPrintable(error));
    const DatabaseUrl url = *fresh;
    const QVector<QUuid> before = placeWithEngine(url, {OrderPreset::HappyPath, OrderPreset::DeclinedCard}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const DatabaseUrl reader = roleWithSelectOn(url, QStringLiteral("restored"), QStringLiteral("ALL TABLES IN SCHEMA public"), &error);
    QVERIFY2(!reader.user.isEmpty(), qPrintable(error));

    DatabaseSource source(reader);
    source.setHealthCheckInterval(100);
    Viewer viewer(source);
    QSignalSpy replaced(&source, &ProgressSource::contentsReplaced);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(shownIds(viewer.model), QSet<QUuid>(before.cbegin(), before.cend()), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(viewer.model, before), kTimeout);
    const qint64 shownUpTo = source.lastPosition();
    const QString identity = source.databaseIdentity();

    // Locked out; the tables emptied and made again (a restore), then more orders.
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("ALTER ROLE %1 NOLOGIN").arg(reader.user), &error), qPrintable(error));
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                                        "WHERE usename = '%1'")
                                             .arg(reader.user),
                                         &error),
             qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Stale, kTimeout);
    error = runInDatabase(url, {QStringLiteral("DROP SCHEMA public CASCADE"), QStringLiteral("CREATE SCHEMA public")});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QVector<QUuid> after = placeWithEngine(url, {OrderPreset::HappyPath, OrderPreset::OutOfStock,
                                                       OrderPreset::HappyPath, OrderPreset::Fraud}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    error = runInDatabase(url, {QStringLiteral("GRANT USAGE ON SCHEMA public TO %1").arg(reader.user),
                             QStringLiteral("GRANT SELECT ON ALL TABLES IN SCHEMA public TO %1").arg(reader.user)});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    {
        SagaStore store(url, QStringLiteral("tst-databasesource-positions"));
        QVERIFY(!store.open());
        QVERIFY2(store.lastPosition() > shownUpTo, "the new history did not grow past the old one");
    }
    QCOMPARE(replaced.count(), 0);
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("ALTER ROLE %1 LOGIN").arg(reader.user), &error), qPrintable(error));

    QTRY_COMPARE_WITH_TIMEOUT(replaced.count(), 1, kTimeout);
    QVERIFY2(replaced.first().first().toString().contains(QLatin1String("another database")),
             qPrintable(replaced.first().first().toString()));
    QTRY_COMPARE_WITH_TIMEOUT(shownIds(viewer.model), QSet<QUuid>(after.cbegin(), after.cend()), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(viewer.model, after), kTimeout);
    QCOMPARE(replaced.count(), 1);
    QCOMPARE(source.databaseIdentity(), identity); // the same database, as PostgreSQL sees it
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    source.stop();
}

QTEST_MAIN(tst_DatabaseSource)
#include "tst_databasesource.moc"
