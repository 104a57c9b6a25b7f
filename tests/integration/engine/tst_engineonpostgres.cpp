// The orchestrator on a real PostgreSQL server: the saga scenarios, and the
// database going away (backends terminated, connections refused for a while):
// the engine pauses, signals it once, retries with backoff, resumes, and no
// transition is lost or written twice.

#include "../../unit/engine/enginetesthelpers.h"
#include "../../unit/engine/storerefusal.h"
#include "enginehost.h"
#include "eventfeed.h"
#include "threadexit.h"
#include "sqlstatements.h"
#include "testservices.h"

#include <QScopeGuard>
#include <QSignalSpy>
#include <QtTest>

#include <csignal>

class tst_EngineOnPostgres : public QObject
{
    Q_OBJECT

private:
    // A new database; `query`: the URL's connection parameters (KEYWORD=VALUE&...).
    EngineConfig config(QString *dbName, const QString &query = {})
    {
        QString error;
        const QString url = TestServices::newPostgresDatabase(&error);
        if (url.isEmpty())
            qFatal("PostgreSQL: %s", qPrintable(error));
        EngineConfig c;
        const auto parsed = DatabaseUrl::parse(query.isEmpty() ? url : url + QLatin1Char('?') + query, &error);
        if (!parsed)
            qFatal("%s", qPrintable(error));
        c.database = *parsed;
        if (dbName)
            *dbName = c.database.database;
        c.stepDelayMs = 0;
        c.compensationBudgetMs = 1000;
        c.retryCooldownSeconds = 0;
        return c;
    }

    static bool admin(const QString &sql)
    {
        QString error;
        const bool ok = TestServices::postgresAdmin(sql, &error);
        if (!ok)
            qWarning("admin: %s", qPrintable(error));
        return ok;
    }

    // Every order's stored events are consistent: one SAGA_STARTED per execution,
    // each step started at most once per execution, gap-free seq, terminal, fold clean.
    static QString checkStored(SagaStore *store, const QVector<QUuid> &ids)
    {
        for (const QUuid &id : ids) {
            auto events = store->loadEvents(id);
            if (!events.ok())
                return events.error.message;
            if (const QString f = checkAllFold(events.value); !f.isEmpty())
                return f;
            QMap<QString, int> starts;
            for (const OrderEvent &e : std::as_const(events.value)) {
                if (e.type == EventType::StepStarted)
                    starts[e.details.value("idempotencyKey").toString()] += 1;
            }
            for (auto it = starts.begin(); it != starts.end(); ++it) {
                if (it.value() != 1)
                    return QStringLiteral("%1 started %2 times").arg(it.key()).arg(it.value());
            }
            auto progress = store->loadProgress(id);
            if (!progress.value.isTerminal()) {
                QStringList types;
                for (const OrderEvent &e : std::as_const(events.value))
                    types << QStringLiteral("%1:%2@%3").arg(toString(e.type)).arg(e.seq).arg(e.position);
                return QStringLiteral("order %1 not terminal: %2").arg(id.toString(), types.join(QLatin1Char(' ')));
            }
        }
        return {};
    }

private Q_SLOTS:
    void initTestCase();
    void scenarios();
    void databaseGoesAway();
    void outageDuringPipelinedCommits();
    void randomFaultPlansThroughOutages_data();
    void randomFaultPlansThroughOutages();
    void storeRefusalEndsTheSagaVisibly();
    void transientErrorsPauseTheEngine_data();
    void transientErrorsPauseTheEngine();
    void refusedConnectionSaysWhy();
    void roleThatMayNotCreateTablesSaysWhatToDo();
    void orderRefusedNotNowIsAnsweredAtOnce();
    void backAfterAnOutageWhoseSagasWereTakenOver();
    void sslModeOfTheUrlIsKept();
    void applicationNameOfTheUrlOnEveryConnection();
    void frozenDatabaseDoesNotHangTheStop();
};

namespace {
// application_name of every other connection to `c`'s database, by backend pid.
QMap<qint64, QString> applicationNames(const EngineConfig &c)
{
    QMap<qint64, QString> names;
    const QString name = QStringLiteral("tst-names-%1").arg(QRandomGenerator::global()->generate());
    {
        QSqlDatabase db = c.database.addConnection(name);
        QSqlQuery q(db);
        if (db.open() && q.exec(QStringLiteral("SELECT pid, application_name FROM pg_stat_activity "
                                               "WHERE datname = current_database() AND pid <> pg_backend_pid()"))) {
            while (q.next())
                names.insert(q.value(0).toLongLong(), q.value(1).toString());
        } else {
            qWarning("pg_stat_activity: %s %s", qPrintable(db.lastError().text()), qPrintable(q.lastError().text()));
        }
    }
    QSqlDatabase::removeDatabase(name);
    return names;
}
} // namespace

void tst_EngineOnPostgres::initTestCase()
{
    QString error;
    if (TestServices::newPostgresDatabase(&error).isEmpty())
        QFAIL(qPrintable(QStringLiteral("PostgreSQL could not be started: ") + error));
}

// A server that answers but refuses the connection: the start-up error names the
// server's reason (no such database, an unknown user), not only "cannot connect".
void tst_EngineOnPostgres::refusedConnectionSaysWhy()
{
    const EngineConfig good = config(nullptr);
    EngineConfig noDatabase = good;
    noDatabase.database.database = QStringLiteral("no_such_db_%1").arg(QRandomGenerator::global()->bounded(1000000));
    EngineConfig noUser = good;
    noUser.database.user = QStringLiteral("no_such_user");
    const QStringList expected{QStringLiteral("database \"%1\" does not exist").arg(noDatabase.database.database),
                               QStringLiteral("role \"no_such_user\" does not exist")};
    const QList<EngineConfig> configs{noDatabase, noUser};
    for (int i = 0; i < configs.size(); ++i) {
        Orchestrator o(configs[i], nullptr);
        QString error;
        QVERIFY(!o.initialize(&error));
        QVERIFY2(error.startsWith(QStringLiteral("Cannot connect to the database ") + configs[i].database.toString()),
                 qPrintable(error));
        QVERIFY2(error.contains(expected[i]), qPrintable(error));
        QVERIFY2(!error.contains(QLatin1Char('\n')), qPrintable(error));
    }
}

// A role that may log in but not create tables (PostgreSQL 15: no CREATE on schema
// public unless granted) on a database without the schema: the error says so and
// what to do (create the schema once as the owner), not only the server's words.
void tst_EngineOnPostgres::roleThatMayNotCreateTablesSaysWhatToDo()
{
    EngineConfig c = config(nullptr);
    const QString role = QStringLiteral("no_create_%1").arg(QRandomGenerator::global()->bounded(1000000));
    QVERIFY(admin(QStringLiteral("CREATE ROLE %1 LOGIN").arg(role)));
    const auto dropRole = qScopeGuard([&] { admin(QStringLiteral("DROP ROLE IF EXISTS %1").arg(role)); });
    c.database.user = role;
    Orchestrator o(c, nullptr);
    QString error;
    QVERIFY(!o.initialize(&error));
    QVERIFY2(error.startsWith(QStringLiteral("Cannot prepare the database ") + c.database.toString()), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("permission denied")), qPrintable(error)); // the server's words
    QVERIFY2(error.contains(QStringLiteral("the user %1 may not create or change its tables").arg(role)),
             qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("once as the database's owner")), qPrintable(error));
}

void tst_EngineOnPostgres::scenarios()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(nullptr), &error), qPrintable(error));
    const QUuid ok = h.submit(sampleOrder());
    const QUuid declined = h.submit(sampleOrder("w", "declined-card"));
    const QUuid address = h.submit(sampleOrder("w", "visa", "00000"));
    const QUuid stock = h.submit(sampleOrder("out-of-stock-product"));
    for (const QUuid &id : {ok, declined, address, stock})
        QVERIFY(h.waitTerminal(id));
    QCOMPARE_ENUM(h.progress(ok).overallStatus, OverallStatus::Completed);
    QCOMPARE_ENUM(h.progress(declined).overallStatus, OverallStatus::RolledBack);
    QCOMPARE_ENUM(h.progress(address).overallStatus, OverallStatus::RolledBack);
    QCOMPARE_ENUM(h.progress(stock).overallStatus, OverallStatus::Failed);
    RetryRequest req;
    req.orderId = declined;
    req.paymentMethodId = QStringLiteral("visa");
    QCOMPARE(int(h.retry(req).code), int(RetryDecision::Accepted));
    QTRY_VERIFY_WITH_TIMEOUT(h.progress(declined).overallStatus == OverallStatus::Completed, 30000);
    QCOMPARE(checkAllFold(h.events, PositionOrder::PerOrder), QString());
    QCOMPARE(checkStored(h.orchestrator->store(), {ok, declined, address, stock}), QString());
    QCOMPARE(h.orchestrator->store()->retryAttempts(declined).value.first().outcome, QStringLiteral("SUCCESS"));
}

void tst_EngineOnPostgres::databaseGoesAway()
{
    QString dbName;
    EngineConfig c = config(&dbName);
    c.stepDelayMs = 30;
    QVector<QUuid> ids; // (declared before the harness: callbacks may still run while it stops)
    int answered = 0;
    bool refused = false;
    const int violationsBefore = Orchestrator::callbackViolations();
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    for (int i = 0; i < 150; ++i) {
        h.orchestrator->submit(i % 3 == 0 ? sampleOrder("w", "declined-card") : sampleOrder(), [&](SubmitResult r) {
            QVERIFY2(r.error.ok(), qPrintable(r.error.message));
            ids << r.orderId;
            ++answered;
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(answered, 150, 30000);
    // Returns once the backends have exited: on a loaded machine one that had not yet
    // seen the signal still answered the engine's reconnect check after the database
    // stopped taking connections, and the engine was rightly "available" again.
    const QString terminate = QStringLiteral("SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity "
                                             "WHERE datname = '%1' AND pid <> pg_backend_pid()")
                                  .arg(dbName);
    // Short outages: connections killed while sagas run.
    for (int round = 0; round < 3; ++round) {
        QTest::qWait(150);
        QVERIFY(admin(terminate));
    }
    // A longer one: connections refused for a while (the engine backs off).
    QTest::qWait(100);
    QVERIFY(admin(QStringLiteral("ALTER DATABASE %1 WITH ALLOW_CONNECTIONS false").arg(dbName)));
    QVERIFY(admin(terminate));
    // Submissions are refused while the database is away (a commit finds it gone, if
    // no saga's commit or lease renewal did first: a killed idle connection alone is
    // replaced at once, and only the refused new one shows the outage).
    h.orchestrator->submit(sampleOrder(), [&](SubmitResult r) { refused = r.error.kind == StoreError::Unavailable; });
    QTRY_VERIFY_WITH_TIMEOUT(refused, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(!h.orchestrator->isDatabaseAvailable(), 10000);
    QTest::qWait(2000);
    QVERIFY(!h.orchestrator->isDatabaseAvailable());
    QVERIFY(admin(QStringLiteral("ALTER DATABASE %1 WITH ALLOW_CONNECTIONS true").arg(dbName)));
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    const QVector<QUuid> accepted = ids; // a copy: waitTerminal() runs the event loop
    for (const QUuid &id : accepted)
        QVERIFY(h.waitTerminal(id, 60000));
    QCOMPARE(answered, 150);
    QCOMPARE(ids, accepted);
    QCOMPARE(Orchestrator::callbackViolations(), violationsBefore);

    // Availability signalled once per outage: false, true, false, true ...
    QVERIFY(!h.availability.isEmpty());
    for (int i = 0; i < h.availability.size(); ++i)
        QCOMPARE(h.availability[i], i % 2 == 1);
    QCOMPARE(h.availability.last(), true);
    // Killed connections and refused logins: "cannot be reached", each time.
    for (StoreError::Outage outage : std::as_const(h.outages))
        QCOMPARE(outage, StoreError::Outage::Unreachable);
    // Nothing lost, nothing written twice.
    QCOMPARE(checkAllFold(h.events, PositionOrder::PerOrder), QString());
    QCOMPARE(checkStored(h.orchestrator->store(), ids), QString());
    auto all = h.orchestrator->store()->loadEventsAfterPosition(0, 100000);
    QCOMPARE(all.value.size(), h.events.size());
    // Every step effect happened once and only for steps the log says completed.
    QCOMPARE(checkEffectsMatchEvents(*h.simulated, h.recorder->requests, h.events), QString());
}

// The random fault plans of tst_orchestrator (seeded rows; shared driver in
// enginetesthelpers.h) on PostgreSQL with the engine's two commit connections,
// and the database taken away between the rounds: its connections killed after
// the first round, refused for a moment after the second. Every saga and retry
// ends; nothing lost or written twice (the events reported are the events stored);
// each execution keeps its order (checkExecutions); the simulated services'
// ledger agrees with the events.
void tst_EngineOnPostgres::randomFaultPlansThroughOutages_data()
{
    TestServices::addSeedRows(11, 13);
}

void tst_EngineOnPostgres::randomFaultPlansThroughOutages()
{
    QFETCH(quint32, seed);
    QString dbName;
    EngineConfig c = config(&dbName);
    c.stepTimeoutMs = 150;
    c.compensationBudgetMs = 400;
    const QString terminate = QStringLiteral("SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity "
                                             "WHERE datname = '%1' AND pid <> pg_backend_pid()")
                                  .arg(dbName);
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    bool adminOk = true;
    const RandomFaultRun run = runRandomFaultPlans(h, seed, [&](int round) {
        if (round == 0) {
            adminOk = admin(terminate) && adminOk;
        } else if (round == 1) {
            adminOk = admin(QStringLiteral("ALTER DATABASE %1 WITH ALLOW_CONNECTIONS false").arg(dbName)) && adminOk;
            adminOk = admin(terminate) && adminOk;
            QTest::qWait(500);
            adminOk = admin(QStringLiteral("ALTER DATABASE %1 WITH ALLOW_CONNECTIONS true").arg(dbName)) && adminOk;
        }
    });
    QVERIFY(adminOk);
    QVERIFY2(run.failure.isEmpty(), qPrintable(run.failure + run.said()));
    QVERIFY2(h.availability.contains(false), "the database was never missed"); // the outages happened
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    QVERIFY2(checkAllFold(h.events, PositionOrder::PerOrder).isEmpty(),
             qPrintable(checkAllFold(h.events, PositionOrder::PerOrder) + run.said()));
    QVERIFY2(checkStored(h.orchestrator->store(), run.ids).isEmpty(),
             qPrintable(checkStored(h.orchestrator->store(), run.ids) + run.said()));
    auto stored = h.orchestrator->store()->loadEventsAfterPosition(0, 100000);
    QVERIFY(stored.ok());
    QCOMPARE(stored.value.size(), h.events.size());
    const QString executions = checkExecutions(stored.value, h.recorder->requests);
    QVERIFY2(executions.isEmpty(), qPrintable(executions + run.said()));
    const QString ledger = checkEffectsMatchEvents(*h.simulated, h.recorder->requests, stored.value);
    QVERIFY2(ledger.isEmpty(), qPrintable(ledger + run.said()));
    qInfo().noquote() << run.summary(h);
}

// Zero-latency steps keep a batch in flight on the committer's connection almost
// all the time; backends are terminated again and again, so commits are cut off
// mid-flight (outcome unknown). Nothing may be lost or written twice, and the
// events must still be emitted in commit (position) order.
void tst_EngineOnPostgres::outageDuringPipelinedCommits()
{
    QString dbName;
    EngineConfig c = config(&dbName);
    // (declared before the harness: callbacks may still run while it stops)
    QVector<QUuid> ids;
    QVector<int> calls; // per submission: how many times its callback ran (must be exactly 1)
    int submitted = 0;
    int answered = 0;
    int refused = 0;
    const int violationsBefore = Orchestrator::callbackViolations();
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    std::function<void()> submitOne = [&] {
        const int index = submitted++;
        calls.append(0);
        h.orchestrator->submit(ids.size() % 5 == 0 ? sampleOrder("w", "declined-card") : sampleOrder(),
                               [&ids, &calls, &refused, &answered, index](SubmitResult r) {
                                   ++calls[index];
                                   if (r.error.ok())
                                       ids << r.orderId;
                                   else
                                       ++refused;
                                   ++answered;
                               });
    };
    auto checkAnsweredOnce = [&]() -> QString {
        for (int i = 0; i < calls.size(); ++i) {
            if (calls[i] != 1)
                return QStringLiteral("submission %1 answered %2 times").arg(i).arg(calls[i]);
        }
        if (answered != submitted)
            return QStringLiteral("%1 answers for %2 submissions").arg(answered).arg(submitted);
        if (Orchestrator::callbackViolations() != violationsBefore)
            return QStringLiteral("%1 callback violations").arg(Orchestrator::callbackViolations() - violationsBefore);
        return {};
    };
    for (int i = 0; i < 64; ++i)
        submitOne();
    const QString terminate = QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                             "WHERE datname = '%1' AND pid <> pg_backend_pid()")
                                  .arg(dbName);
    int kills = 0;
    QElapsedTimer clock;
    clock.start();
    // At least 8 cuts, and on until 64 orders are accepted: starts cut off with their
    // commit are refused (not written later), so how many go through varies.
    while ((kills < 8 || ids.size() < 64) && clock.elapsed() < 60000) {
        if (!h.orchestrator->isDatabaseAvailable()) {
            QTest::qWait(20); // let the engine reconnect before the next cut
            continue;
        }
        // Keep sagas coming, then cut the connections while their batches are being
        // committed: a few milliseconds after a burst there is always work in flight,
        // however fast the machine (waiting longer lets a quiet machine drain it all).
        if (submitted < 2000) {
            for (int i = 0; i < 16; ++i)
                submitOne();
        }
        QTest::qWait(2 + kills % 4);
        if (h.orchestrator->queuedTransitionCount() > 0 || h.orchestrator->activeSagaCount() > 0) {
            QVERIFY(admin(terminate));
            ++kills;
        }
    }
    QVERIFY(kills >= 8);
    QTRY_COMPARE_WITH_TIMEOUT(answered, submitted, 30000);
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    QCOMPARE(checkAnsweredOnce(), QString());
    // Iterate over a copy: waitTerminal() runs the event loop, and a (buggy) late
    // callback appending to `ids` must not leave a dangling reference here.
    const QVector<QUuid> accepted = ids;
    for (const QUuid &id : accepted)
        QVERIFY2(h.waitTerminal(id, 60000),
                 qPrintable(QStringLiteral("order %1: %2 active sagas, %3 queued transitions, database %4; events %5")
                                .arg(id.toString())
                                .arg(h.orchestrator->activeSagaCount())
                                .arg(h.orchestrator->queuedTransitionCount())
                                .arg(h.orchestrator->isDatabaseAvailable() ? "available" : "unavailable")
                                .arg(h.typesOf(id).join(QLatin1Char(' ')))));
    QVERIFY2(ids.size() >= 64, qPrintable(QStringLiteral("%1 accepted, %2 refused of %3").arg(ids.size()).arg(refused).arg(submitted)));
    QCOMPARE(ids, accepted); // no answer came late
    QCOMPARE(checkAnsweredOnce(), QString());
    QCOMPARE(h.orchestrator->store()->reconnect().kind, StoreError::None); // the last kill may have hit it idle
    // Two commit connections by default on PostgreSQL, and they did commit at the same time.
    QCOMPARE(h.orchestrator->commitConnections(), 2);
    QCOMPARE(h.orchestrator->maxBatchesInFlight(), 2);
    // Nothing lost, nothing written twice.
    QCOMPARE(checkAllFold(h.events, PositionOrder::PerOrder), QString());
    const QString stored = checkStored(h.orchestrator->store(), ids);
    if (!stored.isEmpty()) {
        QStringList emitted;
        for (const OrderEvent &e : std::as_const(h.events)) {
            if (stored.contains(e.orderId.toString()))
                emitted << QStringLiteral("%1:%2@%3").arg(toString(e.type)).arg(e.seq).arg(e.position);
        }
        QFAIL(qPrintable(stored + QStringLiteral("; emitted: ") + emitted.join(QLatin1Char(' '))));
    }
    // Two commit connections: batches committing at the same time may report in
    // either order, but every stored event is emitted exactly once, and each
    // order's events in seq (and position) order.
    auto all = h.orchestrator->store()->loadEventsAfterPosition(0, 1000000);
    QVERIFY(all.ok());
    QCOMPARE(all.value.size(), h.events.size());
    QVector<OrderEvent> byPosition = h.events;
    std::sort(byPosition.begin(), byPosition.end(),
              [](const OrderEvent &a, const OrderEvent &b) { return a.position < b.position; });
    for (int i = 0; i < byPosition.size(); ++i) {
        QCOMPARE(byPosition[i].position, all.value[i].position);
        QCOMPARE(byPosition[i].orderId, all.value[i].orderId);
        QCOMPARE(byPosition[i].seq, all.value[i].seq);
    }
    QHash<QUuid, OrderEvent> lastOfOrder;
    for (const OrderEvent &e : std::as_const(h.events)) {
        auto it = lastOfOrder.find(e.orderId);
        if (it != lastOfOrder.end()) {
            QVERIFY2(e.seq == it->seq + 1 && e.position > it->position,
                     qPrintable(QStringLiteral("order %1: seq %2@%3 emitted after seq %4@%5")
                                    .arg(e.orderId.toString())
                                    .arg(e.seq)
                                    .arg(e.position)
                                    .arg(it->seq)
                                    .arg(it->position)));
        }
        lastOfOrder.insert(e.orderId, e);
    }
    // Every step effect happened once and only for steps the log says completed.
    QCOMPARE(checkEffectsMatchEvents(*h.simulated, h.recorder->requests, h.events), QString());
}

// The scenario of storerefusal.h on PostgreSQL (the batch is refused whole,
// then committed one transition at a time to find the refused one).
void tst_EngineOnPostgres::storeRefusalEndsTheSagaVisibly()
{
    const EngineConfig c = config(nullptr);
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    checkStoreRefusalEndsSagasVisibly(h, c.database);
}

// Errors that say "not now" rather than "not this" (a statement cancelled by an
// operator or a timeout, a serialization failure or deadlock, a full disk, a
// database that turned read-only after a failover) are the database being away
// for a while, not a refusal of what the saga carries: the engine pauses and
// tries the same transition again; the saga is not failed with STORE_REFUSED and
// no step is called again. A trigger raises the SQLSTATE on the payment result
// while a flag row says so.
void tst_EngineOnPostgres::transientErrorsPauseTheEngine_data()
{
    // outage: what kind the engine announces (the console's line, saga-server's /api/health).
    using O = StoreError::Outage;
    QTest::addColumn<QString>("sqlState");
    QTest::addColumn<int>("outage");
    QTest::newRow("query_canceled") << QStringLiteral("57014") << int(O::Busy);
    QTest::newRow("serialization_failure") << QStringLiteral("40001") << int(O::Busy);
    QTest::newRow("deadlock_detected") << QStringLiteral("40P01") << int(O::Busy);
    QTest::newRow("too_many_connections") << QStringLiteral("53300") << int(O::Busy);
    QTest::newRow("disk_full") << QStringLiteral("53100") << int(O::DiskFull);
    QTest::newRow("lock_not_available") << QStringLiteral("55P03") << int(O::Locked);
    QTest::newRow("read_only_sql_transaction") << QStringLiteral("25006") << int(O::ReadOnly);
    QTest::newRow("io_error") << QStringLiteral("58030") << int(O::IoError);
    QTest::newRow("admin_shutdown") << QStringLiteral("57P01") << int(O::Unreachable);
}

void tst_EngineOnPostgres::transientErrorsPauseTheEngine()
{
    QFETCH(QString, sqlState);
    QFETCH(int, outage);
    const EngineConfig c = config(nullptr);
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    {
        QSqlDatabase db = c.database.addConnection(QStringLiteral("transient"));
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QSqlQuery q(db);
        for (const QString &sql :
             {QStringLiteral("CREATE TABLE transient_for_test (sql_state text NOT NULL)"),
              QStringLiteral("INSERT INTO transient_for_test VALUES ('%1')").arg(sqlState),
              QStringLiteral("CREATE FUNCTION transient_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ "
                             "DECLARE s text := (SELECT sql_state FROM transient_for_test LIMIT 1); BEGIN "
                             "IF s IS NOT NULL AND NEW.event_type = 'STEP_COMPLETED' "
                             "AND NEW.step_name = 'Payment Processing' THEN "
                             "RAISE EXCEPTION 'not now (test)' USING ERRCODE = s; END IF; RETURN NEW; END $$"),
              QStringLiteral("CREATE TRIGGER transient_for_test BEFORE INSERT ON order_events "
                             "FOR EACH ROW EXECUTE FUNCTION transient_for_test()")})
            QVERIFY2(q.exec(sql), qPrintable(q.lastError().text()));
        db.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("transient"));

    const QUuid id = h.submit(sampleOrder());
    QVERIFY(!id.isNull());
    QTRY_VERIFY_WITH_TIMEOUT(!h.orchestrator->isDatabaseAvailable(), 10000);
    QTest::qWait(1500); // a few tries with backoff, all refused "for now"
    QVERIFY(!h.progress(id).isTerminal());
    {
        QSqlDatabase db = c.database.addConnection(QStringLiteral("transient"));
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QSqlQuery q(db);
        QVERIFY2(q.exec(QStringLiteral("DELETE FROM transient_for_test")), qPrintable(q.lastError().text()));
        db.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("transient"));
    QVERIFY(h.waitTerminal(id));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::Completed);
    QCOMPARE(h.typesOf(id), QStringList({"SAGA_STARTED", "STEP_STARTED:Inventory", "STEP_COMPLETED:Inventory",
                                         "STEP_STARTED:Payment", "STEP_COMPLETED:Payment", "STEP_STARTED:Shipping",
                                         "STEP_COMPLETED:Shipping", "SAGA_COMPLETED"}));
    // Each step was called once: the paused transition was committed, not decided again.
    QCOMPARE(requestsSummary(h.recorder, id), QStringList({"Inventory+", "Payment+", "Shipping+"}));
    QCOMPARE(h.availability, QVector<bool>({false, true}));
    QCOMPARE(h.outages, QVector<StoreError::Outage>({StoreError::Outage(outage)}));
    QCOMPARE(checkStored(h.orchestrator->store(), {id}), QString());
}


// The database answers an order's first commit with "not now" (here: read-only, as
// after a failover): the order is refused at once (503 at saga-server), not held
// until the database takes writes again and then written after all.
void tst_EngineOnPostgres::orderRefusedNotNowIsAnsweredAtOnce()
{
    const EngineConfig c = config(nullptr);
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    QString failed = runInDatabase(
        c.database, {QStringLiteral("CREATE FUNCTION read_only_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                           "RAISE EXCEPTION 'read-only (test)' USING ERRCODE = '25006'; END $$"),
            QStringLiteral("CREATE TRIGGER read_only_for_test BEFORE INSERT ON orders "
                           "FOR EACH ROW EXECUTE FUNCTION read_only_for_test()")});
    QVERIFY2(failed.isEmpty(), qPrintable(failed));
    std::optional<SubmitResult> answer;
    h.orchestrator->submit(sampleOrder(), [&](SubmitResult r) { answer = r; });
    QTRY_VERIFY_WITH_TIMEOUT(answer.has_value(), 5000); // while the database still refuses
    QCOMPARE(int(answer->error.kind), int(StoreError::Unavailable));
    QVERIFY(!h.orchestrator->isDatabaseAvailable());
    failed = runInDatabase(c.database, {QStringLiteral("DROP TRIGGER read_only_for_test ON orders")});
    QVERIFY2(failed.isEmpty(), qPrintable(failed));
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    // Not written later: the database holds no order at all, and a new one goes through.
    QCOMPARE(h.orchestrator->store()->loadEventsAfterPosition(0, 100).value.size(), 0);
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(!id.isNull());
    QVERIFY(h.waitTerminal(id));
}

// While this engine's commits were paused, another engine took its sagas over
// (their leases ran out): every transition it had queued is refused ("lease
// lost"). Those refusals are the database answering: the engine is available
// again and takes new orders, instead of saying "unavailable" until some later
// commit of its own succeeds.
void tst_EngineOnPostgres::backAfterAnOutageWhoseSagasWereTakenOver()
{
    EngineConfig c = config(nullptr);
    c.stepDelayMs = 300;
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    QString failed = runInDatabase(
        c.database, {QStringLiteral("CREATE TABLE pause_for_test (on_ boolean)"), QStringLiteral("INSERT INTO pause_for_test VALUES (true)"),
            QStringLiteral("CREATE FUNCTION pause_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                           "IF EXISTS (SELECT 1 FROM pause_for_test) AND NEW.event_type = 'STEP_COMPLETED' THEN "
                           "RAISE EXCEPTION 'not now (test)' USING ERRCODE = '57014'; END IF; RETURN NEW; END $$"),
            QStringLiteral("CREATE TRIGGER pause_for_test BEFORE INSERT ON order_events "
                           "FOR EACH ROW EXECUTE FUNCTION pause_for_test()")});
    QVERIFY2(failed.isEmpty(), qPrintable(failed));
    const QUuid a = h.submit(sampleOrder());
    const QUuid b = h.submit(sampleOrder());
    QVERIFY(!a.isNull() && !b.isNull());
    QTRY_VERIFY_WITH_TIMEOUT(!h.orchestrator->isDatabaseAvailable(), 10000);
    // Another engine's: the leases of both sagas now belong to someone else.
    failed = runInDatabase(c.database, {QStringLiteral("UPDATE saga_executions SET lease_owner = 'another-engine', "
                                           "lease_expires_at = lease_expires_at + 3600000"),
                            QStringLiteral("DELETE FROM pause_for_test")});
    QVERIFY2(failed.isEmpty(), qPrintable(failed));
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    QTRY_COMPARE_WITH_TIMEOUT(h.orchestrator->activeSagaCount(), 0, 30000); // let go of both
    QCOMPARE(h.availability, QVector<bool>({false, true}));
    const QUuid fresh = h.submit(sampleOrder());
    QVERIFY(!fresh.isNull());
    QVERIFY(h.waitTerminal(fresh));
}

// The query of the database URL reaches the server. The test's PostgreSQL runs
// without SSL: ?sslmode=require must refuse to connect, as psql does, instead of
// talking in plain text (the query was dropped); ?sslmode=disable connects.
void tst_EngineOnPostgres::sslModeOfTheUrlIsKept()
{
    const EngineConfig required = config(nullptr, QStringLiteral("sslmode=require"));
    {
        Orchestrator o(required, nullptr);
        QString error;
        QVERIFY2(!o.initialize(&error), "connected without SSL although the URL requires it");
        QVERIFY2(error.contains(QLatin1String("SSL")), qPrintable(error));
        QVERIFY2(error.contains(QLatin1String("?sslmode=require")), qPrintable(error)); // the URL as shown
    }
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(nullptr, QStringLiteral("sslmode=disable")), &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::Completed);
}

// The URL's application_name wins over the program's name on every connection the
// engine opens (its own, the batch committers' whose libpq connection commits the
// batches) and on an event feed's LISTEN connection; without it, the program's
// name shows.
void tst_EngineOnPostgres::applicationNameOfTheUrlOnEveryConnection()
{
    for (const QString &query : {QStringLiteral("application_name=saga%20east%27s"), QString()}) {
        const QString expected = query.isEmpty() ? QStringLiteral("tst_engineonpostgres") : QStringLiteral("saga east's");
        const EngineConfig c = config(nullptr, query);
        EngineHarness h;
        QString error;
        QVERIFY2(h.start(c, &error), qPrintable(error));
        const QUuid id = h.submit(sampleOrder());
        QVERIFY(h.waitTerminal(id));
        EventFeed feed(c.database);
        feed.start(0);
        QTRY_VERIFY_WITH_TIMEOUT(feed.isListening(), 30000);
        const QMap<qint64, QString> names = applicationNames(c);
        // The engine's connection, its two committers' and the feed's.
        QVERIFY2(names.size() >= 4, qPrintable(QStringList(names.values()).join(QLatin1Char(','))));
        QVERIFY(names.contains(feed.backendPid()));
        for (auto it = names.begin(); it != names.end(); ++it)
            QCOMPARE(it.value(), expected);
    }
}

// The database server freezes with sagas in flight (every backend of this
// database stopped: the connections stay up and no query answers, so no timeout
// ends them). Stopping the engine and an event feed (a console's Quit, saga-server
// at SIGTERM) waited for good in the engine's stop and the feed's; now each is
// left to end in the background after a few seconds (ThreadExit counts them), and
// ends once the server answers again. Nothing was lost or done twice: another
// engine takes the sagas over when their leases run out and ends every one.
void tst_EngineOnPostgres::frozenDatabaseDoesNotHangTheStop()
{
    EngineConfig c = config(nullptr);
    c.stepDelayMs = 200;
    c.leaseSeconds = 2;
    auto host = std::make_unique<EngineHost>(c);
    QSignalSpy started(host.get(), &EngineHost::started);
    host->start();
    QTRY_COMPARE_WITH_TIMEOUT(started.count(), 1, 30000);
    auto feed = std::make_unique<EventFeed>(c.database, 100); // checks its connection every 100 ms
    feed->start(0);
    QTRY_VERIFY_WITH_TIMEOUT(feed->isListening(), 30000);
    QVector<QUuid> ids;
    for (int i = 0; i < 6; ++i) {
        host->submitOrder(sampleOrder(), this, [&ids](SubmitResult r) {
            if (r.error.ok())
                ids.append(r.orderId);
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(ids.size(), 6, 30000); // recorded, their steps under way

    const QList<qint64> backends = applicationNames(c).keys();
    QVERIFY(backends.size() >= 4); // the engine's, its committers', the feed's
    for (qint64 pid : backends)
        QVERIFY(::kill(pid_t(pid), SIGSTOP) == 0);
    auto resume = qScopeGuard([&backends] {
        for (qint64 pid : backends)
            ::kill(pid_t(pid), SIGCONT);
    });
    // Step answers come back and wait in commits that do not answer; the feed's
    // check of its connection waits likewise.
    QTest::qWait(500);

    QCOMPARE(ThreadExit::leftRunning(), 0);
    feed.reset();
    host.reset(); // (returned at all: it waited for good before)
    QCOMPARE(ThreadExit::leftRunning(), 2); // the feed's and the engine's threads

    resume.dismiss();
    for (qint64 pid : backends)
        QVERIFY(::kill(pid_t(pid), SIGCONT) == 0);
    QTRY_COMPARE_WITH_TIMEOUT(ThreadExit::leftRunning(), 0, 30000); // they ended once it answered

    EngineHarness next;
    QString error;
    QVERIFY2(next.start(c, &error), qPrintable(error));
    SagaStore *store = next.orchestrator->store();
    for (const QUuid &id : std::as_const(ids)) // (the harness saw only the events after the take-over)
        QTRY_VERIFY_WITH_TIMEOUT(store->loadProgress(id).value.isTerminal(), 30000);
    QCOMPARE(checkStored(store, ids), QString());
}

QTEST_GUILESS_MAIN(tst_EngineOnPostgres)
#include "tst_engineonpostgres.moc"
