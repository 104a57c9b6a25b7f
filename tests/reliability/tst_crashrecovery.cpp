// Crash recovery: this binary re-executes itself with --child to be an engine
// process running sagas against WireMock (HTTP steps) on a SQLite file; the test
// SIGKILLs it at several points, restarts it, and finally checks that every saga
// is consistent (terminal, events fold cleanly, each step started once) and that
// no step effect happened twice at WireMock: every (order, step, action) used one
// Idempotency-Key, completed orders were never compensated.

#include "enginehost.h"
#include "etaestimator.h"
#include "orderprogress.h"
#include "sagastore.h"
#include "servermetrics.h"
#include "testservices.h"
#include "wiremockadmin.h"

#include <QCoreApplication>
#include <QProcess>
#include <QtTest>
#include <cstdio>

namespace {

OrderRequest mixedOrder(int i)
{
    OrderRequest r;
    r.customerId = QUuid::createUuid();
    r.items = {OrderItem{i % 7 == 3 ? QStringLiteral("out-of-stock-product") : QStringLiteral("widget"), "Widget", 1, 999}};
    r.paymentMethodId = i % 5 == 1 ? QStringLiteral("declined-card") : QStringLiteral("visa");
    r.shippingAddress = ShippingAddress{"1 Main", "Town", "ST", i % 6 == 2 ? "00000" : "12345", "US"};
    return r;
}

// --child DBURL WIREMOCK COUNT ENGINEID: an engine process that submits COUNT orders
// and runs until killed.
int childMain(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    const int at = args.indexOf(QStringLiteral("--child"));
    QString error;
    EngineConfig config;
    config.database = *DatabaseUrl::parse(args.value(at + 1), &error);
    config.stepsBaseUrl = QUrl(args.value(at + 2));
    const int count = args.value(at + 3).toInt();
    config.engineId = args.value(at + 4);
    config.leaseSeconds = 2;
    config.stepTimeoutMs = 2000;
    config.compensationBudgetMs = 5000;
    EngineHost host(config);
    QObject::connect(&host, &EngineHost::startFailed, [](const QString &why) {
        std::fprintf(stderr, "child start failed: %s\n", qPrintable(why));
        QCoreApplication::exit(2);
    });
    QObject::connect(&host, &EngineHost::started, [&] {
        for (int i = 0; i < count; ++i)
            host.submitOrder(mixedOrder(i), &app, [](SubmitResult) {});
        std::printf("started\n");
        std::fflush(stdout);
    });
    host.start();
    return app.exec();
}

} // namespace

class tst_CrashRecovery : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void killAndRestart();
    void takenOverStepsCountTheirResumedAttempt();
};

void tst_CrashRecovery::killAndRestart()
{
    QString error;
    const QUrl wm = TestServices::freshWireMock(&error);
    QVERIFY2(!wm.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wm);
    admin.call("POST", "/__admin/settings", QJsonObject{{"fixedDelay", 40}}); // sagas stay in flight a while
    const QString db = QStringLiteral("sqlite:") + TestServices::tempDir() + QStringLiteral("/crash.sqlite");

    auto runChild = [&](int submit, int killAfterMs) {
        QProcess child;
        TestServices::endsWithThisTest(child);
        child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_LOGGING_RULES"), QStringLiteral("saga.*.debug=false"));
        child.setProcessEnvironment(env);
        child.start(QCoreApplication::applicationFilePath(),
                    {QStringLiteral("--child"), db, wm.toString(), QString::number(submit), QStringLiteral("engine-crashy")});
        if (!child.waitForStarted(10000))
            return false;
        if (!child.waitForReadyRead(30000))
            return false;
        QTest::qWait(killAfterMs);
        child.kill(); // SIGKILL
        child.waitForFinished(10000);
        return true;
    };
    // Kill at several points: early, mid-flight, during compensations, after a restart.
    QVERIFY(runChild(60, 150));
    QVERIFY(runChild(0, 400));
    QVERIFY(runChild(30, 700));
    QVERIFY(runChild(0, 250));

    // Final run: let it finish everything (own leases are taken back at start).
    SagaStore store(*DatabaseUrl::parse(db, &error), QStringLiteral("checker"));
    QVERIFY(store.open().ok());
    QProcess last;
    TestServices::endsWithThisTest(last);
    last.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    last.start(QCoreApplication::applicationFilePath(),
               {QStringLiteral("--child"), db, wm.toString(), QStringLiteral("0"), QStringLiteral("engine-crashy")});
    QVERIFY(last.waitForStarted(10000));
    auto allTerminal = [&] {
        OrderListFilter f;
        f.limit = 1000;
        auto page = store.listOrders(f);
        if (!page.ok() || page.value.orders.isEmpty())
            return false;
        for (const OrderProgress &p : std::as_const(page.value.orders)) {
            if (!p.isTerminal())
                return false;
        }
        return true;
    };
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(), 120000);
    last.kill();
    last.waitForFinished(10000);
    admin.call("POST", "/__admin/settings", QJsonObject{{"fixedDelay", 0}});

    OrderListFilter f;
    f.limit = 1000;
    const auto page = store.listOrders(f);
    QVERIFY(page.value.orders.size() >= 60); // the first child got at least its first batch in
    QMap<QString, QString> statusByOrder;
    for (const OrderProgress &p : page.value.orders) {
        auto events = store.loadEvents(p.orderId);
        OrderProgress folded(p.orderId);
        QMap<QString, int> stepStarts;
        for (const OrderEvent &e : std::as_const(events.value)) {
            const FoldResult r = folded.apply(e);
            QVERIFY2(r.outcome == FoldResult::Applied, qPrintable(r.error));
            if (e.type == EventType::StepStarted)
                stepStarts[e.details.value("idempotencyKey").toString()] += 1;
            if (e.type == EventType::SagaStarted)
                QCOMPARE(e.seq, qint64(1)); // one execution per order
        }
        for (auto it = stepStarts.begin(); it != stepStarts.end(); ++it)
            QCOMPARE(it.value(), 1);
        QVERIFY(folded.isTerminal());
        if (folded.overallStatus == OverallStatus::RolledBack) {
            for (SagaStep s : kAllSteps)
                QVERIFY(folded.step(s).status != StepStatus::Completed); // nothing left un-compensated
        }
        auto order = store.loadOrder(p.orderId);
        QCOMPARE(toString(order.value.status), toString(recordStatusFor(folded.overallStatus)));
        statusByOrder[p.orderId.toString(QUuid::WithoutBraces)] = toString(folded.overallStatus);
    }

    // WireMock journal: one Idempotency-Key per (order, step, action); completed orders never compensated.
    const QVector<WireMockAdmin::Seen> requests = admin.journal();
    QVERIFY(!requests.isEmpty());
    QMap<QString, QSet<QString>> keysPerAction; // "<orderId> <path kind>" -> keys
    for (const WireMockAdmin::Seen &seen : requests) {
        const QString &path = seen.path;
        const QString orderId = seen.body.value("orderId").toString();
        const QString &key = seen.key;
        QVERIFY(!key.isEmpty());
        const bool compensation = path.endsWith("/release") || path.endsWith("/void") || path.endsWith("/cancel");
        const QString kind = path.section('/', 1, 1) + (compensation ? QStringLiteral("-") : QStringLiteral("+"));
        keysPerAction[orderId + ' ' + kind].insert(key);
        if (compensation && statusByOrder.value(orderId) == QLatin1String("COMPLETED"))
            QFAIL(qPrintable(QStringLiteral("completed order %1 was compensated").arg(orderId)));
    }
    for (auto it = keysPerAction.begin(); it != keysPerAction.end(); ++it)
        QVERIFY2(it.value().size() == 1, qPrintable(it.key()));
}

// An engine SIGKILLed with step calls out; another engine takes its sagas over once
// their leases run out and drives those steps again. Their STEP_COMPLETED says when
// the resumed attempt started (details.resumedAt, after the kill), and every
// duration consumer counts from there, not from STEP_STARTED before the crash: the
// fold (ETA, charts), the stored durations a console seeds its ETA with, the
// ETA estimator, and saga-server's step duration histograms.
void tst_CrashRecovery::takenOverStepsCountTheirResumedAttempt()
{
    QString error;
    const QUrl wm = TestServices::freshWireMock(&error);
    QVERIFY2(!wm.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wm);
    admin.call("POST", "/__admin/settings", QJsonObject{{"fixedDelay", 1500}}); // calls stay out (step timeout 2 s)
    const QString db = QStringLiteral("sqlite:") + TestServices::tempDir() + QStringLiteral("/takeover.sqlite");
    SagaStore store(*DatabaseUrl::parse(db, &error), QStringLiteral("takeover-checker"));
    auto startChild = [&](QProcess &child, int submit, const QString &engineId) {
        child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_LOGGING_RULES"), QStringLiteral("saga.*.debug=false"));
        child.setProcessEnvironment(env);
        child.start(QCoreApplication::applicationFilePath(),
                    {QStringLiteral("--child"), db, wm.toString(), QString::number(submit), engineId});
        return child.waitForStarted(10000) && child.waitForReadyRead(30000);
    };
    auto orders = [&] {
        OrderListFilter f;
        f.limit = 1000;
        auto page = store.listOrders(f);
        return page.ok() ? page.value.orders : QVector<OrderProgress>();
    };

    QProcess a;
    TestServices::endsWithThisTest(a);
    QVERIFY(startChild(a, 8, QStringLiteral("engine-a")));
    QVERIFY(store.open().ok());
    // Killed once some first calls are out (their STEP_STARTED committed).
    auto anyInProgress = [&] {
        const QVector<OrderProgress> list = orders();
        return std::any_of(list.cbegin(), list.cend(),
                           [](const OrderProgress &p) { return p.overallStatus == OverallStatus::InProgress; });
    };
    QTRY_VERIFY_WITH_TIMEOUT(anyInProgress(), 30000);
    a.kill(); // SIGKILL: its leases stay until they run out
    a.waitForFinished(10000);
    const QDateTime killedAt = QDateTime::currentDateTimeUtc();
    admin.call("POST", "/__admin/settings", QJsonObject{{"fixedDelay", 40}});

    QProcess b;
    TestServices::endsWithThisTest(b);
    QVERIFY(startChild(b, 0, QStringLiteral("engine-b")));
    auto allTerminal = [&] {
        const QVector<OrderProgress> list = orders();
        return !list.isEmpty() && std::all_of(list.cbegin(), list.cend(), [](const OrderProgress &p) { return p.isTerminal(); });
    };
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(), 60000);
    b.kill();
    b.waitForFinished(10000);
    admin.call("POST", "/__admin/settings", QJsonObject{{"fixedDelay", 0}});

    int takenOver = 0;
    std::array<QVector<qint64>, kStepCount> foldDurations; // of the steps the stored durations hold
    std::array<double, kStepCount> forwardSeconds{};      // every forward end (the histograms')
    ServerMetrics metrics;
    EtaEstimator eta;
    for (const OrderProgress &listed : orders()) {
        const QVector<OrderEvent> events = store.loadEvents(listed.orderId).value;
        OrderProgress p(listed.orderId);
        for (const OrderEvent &e : events) {
            const OrderProgress before = p;
            const FoldResult r = p.apply(e);
            QVERIFY2(r.outcome == FoldResult::Applied, qPrintable(r.error));
            eta.observe(p, r.changes);
            metrics.observe(e, &p);
            const QDateTime resumedAt = resumedAttemptStart(e);
            if (!resumedAt.isValid())
                continue;
            ++takenOver;
            QVERIFY(e.details.value("resumed").toBool());
            const StepProgress &sp = p.step(*e.step);
            QVERIFY(sp.startedAt < killedAt);  // it started under a
            QVERIFY(resumedAt >= killedAt);    // and was resumed by b
            QCOMPARE(sp.resumedAt, resumedAt);
            QCOMPARE(sp.durationMs(), resumedAt.msecsTo(e.timestamp)); // not from STEP_STARTED
            QCOMPARE(before.step(*e.step).startedAt, sp.startedAt);
        }
        for (const StepProgress &sp : p.steps) {
            if (sp.durationMs() < 0)
                continue;
            forwardSeconds[size_t(sp.step)] += sp.durationMs() / 1000.0;
            if (sp.status == StepStatus::Completed || sp.status == StepStatus::Compensating
                || sp.status == StepStatus::Compensated)
                foldDurations[size_t(sp.step)].append(sp.durationMs());
        }
    }
    QVERIFY2(takenOver > 0, "no step was taken over mid-call");

    // The stored durations (SagaStore::recentStepDurations) are the fold's.
    const auto stored = store.recentStepDurations(1000);
    QVERIFY(stored.ok());
    std::array<QVector<qint64>, kStepCount> storedDurations;
    for (const auto &[step, ms] : stored.value)
        storedDurations[size_t(step)].append(ms);
    for (SagaStep s : kAllSteps) {
        std::sort(storedDurations[size_t(s)].begin(), storedDurations[size_t(s)].end());
        std::sort(foldDurations[size_t(s)].begin(), foldDurations[size_t(s)].end());
        QCOMPARE(storedDurations[size_t(s)], foldDurations[size_t(s)]);
        // The estimator's p95 is one of those samples (none is the wait).
        if (!foldDurations[size_t(s)].isEmpty())
            QVERIFY(foldDurations[size_t(s)].contains(eta.p95(s)));
    }
    // saga-server's histograms sum the same durations.
    const QStringList lines = QString::fromUtf8(metrics.render(0, 0, true)).split(QLatin1Char('\n'));
    for (SagaStep s : kAllSteps) {
        const QString prefix = QStringLiteral("saga_step_duration_seconds_sum{step=\"%1\"} ").arg(stepDisplayName(s));
        const auto line = std::find_if(lines.cbegin(), lines.cend(), [&](const QString &l) { return l.startsWith(prefix); });
        QVERIFY(line != lines.cend());
        QVERIFY2(qAbs(line->mid(prefix.size()).toDouble() - forwardSeconds[size_t(s)]) < 0.0005, qPrintable(*line));
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i) {
        if (qstrcmp(argv[i], "--child") == 0)
            return childMain(argc, argv);
    }
    QCoreApplication app(argc, argv);
    tst_CrashRecovery test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_crashrecovery.moc"
