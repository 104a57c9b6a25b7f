// Two engines (each its own thread and connection, as two saga-server processes
// would be) on one database run 500 sagas against WireMock, with short leases so
// both keep claiming all the time: on PostgreSQL with SELECT ... FOR UPDATE SKIP
// LOCKED, on one SQLite file (a console and a saga-server sharing the embedded
// default) inside SQLite's one write transaction at a time.
// Each saga is driven exactly once: one request per step action at WireMock, each
// step started once, and every event sequence folds cleanly.

#include "enginehost.h"
#include "orderprogress.h"
#include "sagastore.h"
#include "testservices.h"
#include "wiremockadmin.h"

#include <QtTest>

class tst_TwoEngines : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void fiveHundredSagasEachDrivenOnce_data();
    void fiveHundredSagasEachDrivenOnce();
};

void tst_TwoEngines::fiveHundredSagasEachDrivenOnce_data()
{
    QTest::addColumn<bool>("postgres");
    QTest::newRow("postgres") << true;
    QTest::newRow("sqlite") << false;
}

void tst_TwoEngines::fiveHundredSagasEachDrivenOnce()
{
    QFETCH(bool, postgres);
    QString error;
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString dbUrl = postgres ? TestServices::newPostgresDatabase(&error)
                                   : QStringLiteral("sqlite:") + dir.filePath(QStringLiteral("two-engines.sqlite"));
    if (dbUrl.isEmpty())
        QFAIL(qPrintable(QStringLiteral("PostgreSQL could not be started: ") + error));
    const QUrl wm = TestServices::freshWireMock(&error);
    QVERIFY2(!wm.isEmpty(), qPrintable(error));

    EngineConfig config;
    config.database = *DatabaseUrl::parse(dbUrl, &error);
    config.stepsBaseUrl = wm;
    config.leaseSeconds = 2;
    config.stepTimeoutMs = 10000;
    EngineConfig a = config;
    a.engineId = QStringLiteral("engine-a");
    EngineConfig b = config;
    b.engineId = QStringLiteral("engine-b");
    EngineHost hostA(a);
    EngineHost hostB(b);
    QSignalSpy startedA(&hostA, &EngineHost::started);
    QSignalSpy startedB(&hostB, &EngineHost::started);
    hostA.start();
    hostB.start();
    QTRY_VERIFY_WITH_TIMEOUT(startedA.count() == 1 && startedB.count() == 1, 30000);

    QObject context;
    QVector<QUuid> ids;
    int failures = 0;
    for (int i = 0; i < 500; ++i) {
        OrderRequest r;
        r.customerId = QUuid::createUuid();
        r.items = {OrderItem{"widget", "Widget", 1, 500}};
        r.paymentMethodId = i % 10 == 0 ? QStringLiteral("declined-card") : QStringLiteral("visa");
        r.shippingAddress = ShippingAddress{"1 Main", "Town", "ST", "12345", "US"};
        (i % 2 ? hostA : hostB).submitOrder(r, &context, [&](SubmitResult res) {
            if (res.error.ok())
                ids << res.orderId;
            else
                ++failures;
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(ids.size() + failures, 500, 60000);
    QCOMPARE(failures, 0);

    SagaStore store(config.database, QStringLiteral("checker"));
    QVERIFY(store.open().ok());
    auto terminalCount = [&] {
        OrderListFilter f;
        f.limit = 1000;
        int n = 0;
        for (const OrderProgress &p : store.listOrders(f).value.orders)
            n += p.isTerminal() ? 1 : 0;
        return n;
    };
    QTRY_COMPARE_WITH_TIMEOUT(terminalCount(), 500, 300000);

    for (const QUuid &id : std::as_const(ids)) {
        auto events = store.loadEvents(id);
        OrderProgress p(id);
        QMap<QString, int> starts;
        for (const OrderEvent &e : std::as_const(events.value)) {
            QCOMPARE(p.apply(e).outcome, FoldResult::Applied);
            if (e.type == EventType::StepStarted)
                starts[e.details.value("idempotencyKey").toString()] += 1;
        }
        for (auto it = starts.begin(); it != starts.end(); ++it)
            QCOMPARE(it.value(), 1);
        QVERIFY(p.isTerminal());
    }

    // Exactly one request per (execution, step, action) at WireMock.
    const QMap<QString, int> perKey = WireMockAdmin(wm).countByKey();
    // 450 completed x 3 forward + 50 declined x (2 forward + 1 release).
    QCOMPARE(perKey.size(), 450 * 3 + 50 * 3);
    for (auto it = perKey.begin(); it != perKey.end(); ++it)
        QVERIFY2(it.value() == 1, qPrintable(it.key()));

    bool downA = false;
    bool downB = false;
    hostA.shutdown(5000, [&] { downA = true; });
    hostB.shutdown(5000, [&] { downB = true; });
    QTRY_VERIFY_WITH_TIMEOUT(downA && downB, 30000);
}

QTEST_GUILESS_MAIN(tst_TwoEngines)
#include "tst_twoengines.moc"
