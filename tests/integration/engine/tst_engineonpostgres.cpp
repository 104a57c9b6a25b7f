// The orchestrator on a real PostgreSQL server: the saga scenarios, and the
// database going away (backends terminated, connections refused for a while):
// the engine pauses, signals it once, retries with backoff, resumes, and no
// transition is lost or written twice.

#include "../../unit/engine/enginetesthelpers.h"
#include "testservices.h"

#include <QtTest>

class tst_EngineOnPostgres : public QObject
{
    Q_OBJECT

private:
    EngineConfig config(QString *dbName)
    {
        QString error;
        const QString url = TestServices::newPostgresDatabase(&error);
        if (url.isEmpty())
            qFatal("PostgreSQL: %s", qPrintable(error));
        EngineConfig c;
        c.database = *DatabaseUrl::parse(url, &error);
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
            if (!progress.value.isTerminal())
                return QStringLiteral("order %1 not terminal").arg(id.toString());
        }
        return {};
    }

private Q_SLOTS:
    void initTestCase();
    void scenarios();
    void databaseGoesAway();
};

void tst_EngineOnPostgres::initTestCase()
{
    QString error;
    if (TestServices::newPostgresDatabase(&error).isEmpty())
        QFAIL(qPrintable(QStringLiteral("PostgreSQL could not be started: ") + error));
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
    QCOMPARE(checkAllFold(h.events), QString());
    QCOMPARE(checkStored(h.orchestrator->store(), {ok, declined, address, stock}), QString());
    QCOMPARE(h.orchestrator->store()->retryAttempts(declined).value.first().outcome, QStringLiteral("SUCCESS"));
}

void tst_EngineOnPostgres::databaseGoesAway()
{
    QString dbName;
    EngineConfig c = config(&dbName);
    c.stepDelayMs = 30;
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    QVector<QUuid> ids;
    int answered = 0;
    for (int i = 0; i < 150; ++i) {
        h.orchestrator->submit(i % 3 == 0 ? sampleOrder("w", "declined-card") : sampleOrder(), [&](SubmitResult r) {
            QVERIFY2(r.error.ok(), qPrintable(r.error.message));
            ids << r.orderId;
            ++answered;
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(answered, 150, 30000);
    const QString terminate = QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
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
    QTRY_VERIFY_WITH_TIMEOUT(!h.orchestrator->isDatabaseAvailable(), 10000);
    // Submissions are refused while the database is away.
    bool refused = false;
    h.orchestrator->submit(sampleOrder(), [&](SubmitResult r) { refused = r.error.kind == StoreError::Unavailable; });
    QTRY_VERIFY(refused);
    QTest::qWait(2000);
    QVERIFY(!h.orchestrator->isDatabaseAvailable());
    QVERIFY(admin(QStringLiteral("ALTER DATABASE %1 WITH ALLOW_CONNECTIONS true").arg(dbName)));
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    for (const QUuid &id : std::as_const(ids))
        QVERIFY(h.waitTerminal(id, 60000));

    // Availability signalled once per outage: false, true, false, true ...
    QVERIFY(!h.availability.isEmpty());
    for (int i = 0; i < h.availability.size(); ++i)
        QCOMPARE(h.availability[i], i % 2 == 1);
    QCOMPARE(h.availability.last(), true);
    // Nothing lost, nothing written twice.
    QCOMPARE(checkAllFold(h.events), QString());
    QCOMPARE(checkStored(h.orchestrator->store(), ids), QString());
    auto all = h.orchestrator->store()->loadEventsAfterPosition(0, 100000);
    QCOMPARE(all.value.size(), h.events.size());
    for (const StepRequest &r : h.recorder->requests) {
        if (r.action == StepAction::Forward)
            QVERIFY(h.simulated->effectCount(r.idempotencyKey) <= 1);
    }
}

QTEST_GUILESS_MAIN(tst_EngineOnPostgres)
#include "tst_engineonpostgres.moc"
