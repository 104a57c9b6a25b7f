// Engine benchmark (issue 3): completed sagas per second with zero-latency
// simulated steps and 64 sagas in flight, on SQLite and on PostgreSQL, next to
// `pgbench -N` tps on the same PostgreSQL cluster in the same run; then 100 ms
// step latency with 2,000 sagas in flight at once, and kept in flight next to a
// light load (100 kept in flight) in the same run: the p50 ratio between the two
// is what the load itself costs, whatever the machine's speed that minute.
//
//   bench_engine [--sagas N] [--concurrency C] [--backend sqlite|postgres|all]
//                [--pgbench-seconds S] [--pgbench-clients C] [--inflight N] [--latency MS]
//                [--sustain R] [--reference-inflight N] [--commit-connections K]

#include "enginehost.h"
#include "testservices.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>
#include <QProcess>
#include <QRegularExpression>
#include <QTest>
#include <QUrl>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>

namespace {

OrderRequest order()
{
    OrderRequest r;
    r.customerId = QUuid::createUuid();
    r.items = {OrderItem{"widget-1", "Widget", 2, 1250}};
    r.paymentMethodId = "visa-4242";
    r.shippingAddress = ShippingAddress{"1 Main St", "Springfield", "IL", "62701", "US"};
    return r;
}

struct RunResult {
    bool ok = false;
    QString error;
    int completed = 0;
    double seconds = 0;
    double sagasPerSecond = 0;
    qint64 p50 = 0, p95 = 0, max = 0; // saga durations (submit -> terminal), ms
    // Sustained runs: saga p50 of the sagas that ended in the first and in the last
    // fifth of the run (a growing backlog shows as a later p50 well above the first);
    // -1 when no saga ended in that fifth (a run shorter than a few saga durations).
    qint64 p50First = -1, p50Last = -1;
    // Where a saga's time goes (p50 over all sagas, ms; from the events' decision
    // times and the times this thread saw them committed):
    qint64 submitToStarted = -1; // submitted here -> SAGA_STARTED decided in the engine
    qint64 commitRound = -1;     // a transition decided -> seen committed (queue + commit + report)
    qint64 stepCall = -1;        // STEP_STARTED seen committed -> its STEP_COMPLETED decided (the call)
};

bool isEnd(const OrderEvent &e)
{
    return e.type == EventType::SagaCompleted || e.type == EventType::SagaFailed;
}

// Keeps `concurrency` sagas in flight until `total` completed (concurrency == total: one burst).
RunResult run(const EngineConfig &config, int total, int concurrency)
{
    RunResult result;
    EngineHost host(config);
    bool started = false;
    QString failure;
    QObject::connect(&host, &EngineHost::started, [&] { started = true; });
    QObject::connect(&host, &EngineHost::startFailed, [&](const QString &why) { failure = why; });
    host.start();
    if (!QTest::qWaitFor([&] { return started || !failure.isEmpty(); }, 60000) || !started) {
        result.error = failure.isEmpty() ? QStringLiteral("engine did not start") : failure;
        return result;
    }
    QObject context;
    QEventLoop loop; // runs until every saga ended or one failed
    std::map<QUuid, qint64> startedAt;
    QVector<qint64> submitGaps, commitRounds, stepCalls;
    std::map<QUuid, qint64> startedDecided;         // SAGA_STARTED decided, epoch ms
    std::map<std::pair<QUuid, int>, qint64> stepSeen; // (order, step) -> STEP_STARTED seen committed, epoch ms
    QVector<qint64> durations;
    QVector<QPair<qint64, qint64>> endings; // (end time, duration), ms
    int submitted = 0;
    int done = 0;
    QElapsedTimer clock;
    std::function<void()> submitOne = [&] {
        ++submitted;
        const qint64 at = clock.elapsed();
        const qint64 atMs = QDateTime::currentMSecsSinceEpoch();
        host.submitOrder(order(), &context, [&, at, atMs](SubmitResult r) {
            if (!r.error.ok()) {
                failure = r.error.message;
                loop.quit();
                return;
            }
            startedAt[r.orderId] = at;
            // The answer comes after the SAGA_STARTED it waited for was seen here.
            auto decided = startedDecided.find(r.orderId);
            if (decided != startedDecided.end()) {
                submitGaps << decided->second - atMs;
                startedDecided.erase(decided);
            }
        });
    };
    QObject::connect(&host, &EngineHost::eventsCommitted, &context, [&](const QVector<OrderEvent> &events) {
        const qint64 seenMs = QDateTime::currentMSecsSinceEpoch();
        for (const OrderEvent &e : events) {
            const qint64 decided = e.timestamp.toMSecsSinceEpoch();
            commitRounds << seenMs - decided;
            if (e.type == EventType::SagaStarted) {
                startedDecided[e.orderId] = decided;
            } else if (e.type == EventType::StepStarted && e.step) {
                stepSeen[{e.orderId, int(*e.step)}] = seenMs;
            } else if (e.type == EventType::StepCompleted && e.step) {
                auto seen = stepSeen.find({e.orderId, int(*e.step)});
                if (seen != stepSeen.end()) {
                    stepCalls << decided - seen->second;
                    stepSeen.erase(seen);
                }
            }
            if (!isEnd(e))
                continue;
            ++done;
            auto it = startedAt.find(e.orderId);
            if (it != startedAt.end()) {
                durations << clock.elapsed() - it->second;
                endings.append({clock.elapsed(), clock.elapsed() - it->second});
            }
            if (submitted < total)
                submitOne();
        }
    });
    clock.start();
    for (int i = 0; i < concurrency && submitted < total; ++i)
        submitOne();
    // An event loop that ends when the last saga did: QTest::qWaitFor sleeps 10 ms
    // between looks, which delayed every committed event (and the next submit) seen
    // here by up to 10 ms.
    QTimer deadline;
    deadline.setSingleShot(true);
    QObject::connect(&deadline, &QTimer::timeout, &loop, &QEventLoop::quit);
    QObject::connect(&host, &EngineHost::eventsCommitted, &loop, [&] {
        if (done >= total || !failure.isEmpty())
            loop.quit();
    });
    deadline.start(600000);
    if (done < total && failure.isEmpty())
        loop.exec();
    const bool finished = done >= total && failure.isEmpty();
    result.seconds = clock.elapsed() / 1000.0;
    result.completed = done;
    if (!finished || !failure.isEmpty()) {
        result.error = failure.isEmpty() ? QStringLiteral("timed out") : failure;
    } else {
        result.ok = true;
    }
    result.sagasPerSecond = done / qMax(0.001, result.seconds);
    auto median = [](QVector<qint64> v) -> qint64 {
        if (v.isEmpty())
            return -1;
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    if (!endings.isEmpty()) {
        const qint64 span = endings.last().first;
        QVector<qint64> first, last;
        for (const auto &[end, duration] : std::as_const(endings)) {
            if (end <= span / 5)
                first << duration;
            else if (end >= span - span / 5)
                last << duration;
        }
        result.p50First = median(first);
        result.p50Last = median(last);
    }
    result.submitToStarted = median(submitGaps);
    result.commitRound = median(commitRounds);
    result.stepCall = median(stepCalls);
    std::sort(durations.begin(), durations.end());
    if (!durations.isEmpty()) {
        result.p50 = durations[durations.size() / 2];
        result.p95 = durations[durations.size() * 95 / 100];
        result.max = durations.last();
    }
    bool down = false;
    host.shutdown(10000, [&] { down = true; });
    (void)QTest::qWaitFor([&] { return down; }, 30000);
    return result;
}

double pgbench(const DatabaseUrl &url, int seconds, int clients, QString *error)
{
    const QStringList conn{"-h", url.host, "-p", QString::number(url.port), "-U", url.user.isEmpty() ? "postgres" : url.user};
    QProcess init;
    init.setProcessChannelMode(QProcess::MergedChannels);
    init.start("pgbench", QStringList{"-i", "-q", "-s", "4"} + conn + QStringList{url.database});
    if (!init.waitForFinished(300000) || init.exitCode() != 0) {
        *error = QStringLiteral("pgbench -i failed: ") + QString::fromLocal8Bit(init.readAll());
        return 0;
    }
    QProcess bench;
    bench.setProcessChannelMode(QProcess::MergedChannels);
    bench.start("pgbench", QStringList{"-N", "-c", QString::number(clients), "-j", "2", "-T", QString::number(seconds)}
                               + conn + QStringList{url.database});
    if (!bench.waitForFinished((seconds + 120) * 1000) || bench.exitCode() != 0) {
        *error = QStringLiteral("pgbench -N failed: ") + QString::fromLocal8Bit(bench.readAll());
        return 0;
    }
    const QString out = QString::fromLocal8Bit(bench.readAll());
    static const QRegularExpression tps(QStringLiteral("tps = ([0-9.]+)"));
    const auto m = tps.match(out);
    if (!m.hasMatch()) {
        *error = QStringLiteral("no tps in pgbench output: ") + out;
        return 0;
    }
    return m.captured(1).toDouble();
}

void printSustained(const char *label, const RunResult &r, int latencyMs)
{
    if (!r.ok) {
        std::printf("%-44s FAILED: %s\n", label, qPrintable(r.error));
        return;
    }
    auto fifth = [](qint64 p50) { return p50 < 0 ? QByteArray("none ended") : QByteArray::number(p50) + " ms"; };
    std::printf("%-44s %8.1f sagas/s  (%d sagas in %.2f s; saga p50 %lld ms (ideal %d), first fifth %s, "
                "last fifth %s, p95 %lld ms)\n",
                label, r.sagasPerSecond, r.completed, r.seconds, r.p50, 3 * latencyMs, fifth(r.p50First).constData(),
                fifth(r.p50Last).constData(), r.p95);
    std::printf("%-44s p50 per part: submitted -> started %lld ms, transition decided -> committed %lld ms "
                "(4 rounds), step call %lld ms (3 calls)\n",
                "", r.submitToStarted, r.commitRound, r.stepCall);
    std::fflush(stdout);
}

void print(const char *label, const RunResult &r)
{
    if (!r.ok)
        std::printf("%-44s FAILED: %s\n", label, qPrintable(r.error));
    else
        std::printf("%-44s %8.1f sagas/s  (%d sagas in %.2f s; saga p50 %lld ms, p95 %lld ms, max %lld ms)\n", label,
                    r.sagasPerSecond, r.completed, r.seconds, r.p50, r.p95, r.max);
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    parser.addOption({"sagas", "Sagas per throughput run.", "N", "3000"});
    parser.addOption({"concurrency", "Sagas in flight in throughput runs.", "C", "64"});
    parser.addOption({"backend", "sqlite, postgres or all.", "B", "all"});
    parser.addOption({"pgbench-seconds", "Duration of pgbench -N.", "S", "15"});
    parser.addOption({"pgbench-clients", "pgbench -N clients.", "C", "8"});
    parser.addOption({"inflight", "Sagas in flight at once in the latency run (0: skip).", "N", "2000"});
    parser.addOption({"latency", "Step latency of the latency run, ms.", "MS", "100"});
    parser.addOption({"sustain", "Sustained latency run: keep --inflight sagas in flight until this many times "
                                 "--inflight completed (0: skip).", "R", "5"});
    parser.addOption({"reference-inflight", "Light load kept in flight before the sustained run, as its same-run "
                                             "reference (0: skip).", "N", "100"});
    parser.addOption({"commit-connections", "PostgreSQL commit connections (0: the engine's default).", "K", "0"});
    parser.process(app);
    const int sagas = parser.value("sagas").toInt();
    const int concurrency = parser.value("concurrency").toInt();
    const QString backend = parser.value("backend");
    const int inflight = parser.value("inflight").toInt();
    const int latency = parser.value("latency").toInt();
    const int sustain = parser.value("sustain").toInt();
    const int referenceInflight = parser.value("reference-inflight").toInt();

    EngineConfig base;
    base.stepDelayMs = 0;
    base.leaseSeconds = 60;
    base.commitConnections = parser.value("commit-connections").toInt();
    std::printf("bench_engine: %d sagas, %d in flight, zero-latency simulated steps\n", sagas, concurrency);

    // The runs with step latency, each on a fresh database (`fresh` points the
    // config at one): `inflight` sagas submitted at once, then (with --sustain)
    // `inflight` kept in flight until `sustain` times as many completed.
    auto latencyRuns = [&](const char *backendName, EngineConfig l,
                           const std::function<void(EngineConfig &, const QString &)> &fresh) {
        if (inflight <= 0)
            return;
        l.stepDelayMs = latency;
        fresh(l, QStringLiteral("latency"));
        const QByteArray burst =
            QStringLiteral("%1, %2 ms steps, %3 in flight at once").arg(backendName).arg(latency).arg(inflight).toUtf8();
        print(burst.constData(), run(l, inflight, inflight));
        if (sustain <= 0)
            return;
        RunResult reference;
        if (referenceInflight > 0) {
            fresh(l, QStringLiteral("reference"));
            const QByteArray light = QStringLiteral("%1, %2 ms steps, %3 kept in flight")
                                         .arg(backendName)
                                         .arg(latency)
                                         .arg(referenceInflight)
                                         .toUtf8();
            reference = run(l, referenceInflight * std::max(sustain, 10), referenceInflight);
            printSustained(light.constData(), reference, latency);
        }
        fresh(l, QStringLiteral("sustained"));
        const QByteArray kept =
            QStringLiteral("%1, %2 ms steps, %3 kept in flight").arg(backendName).arg(latency).arg(inflight).toUtf8();
        const RunResult loaded = run(l, inflight * sustain, inflight);
        printSustained(kept.constData(), loaded, latency);
        if (reference.ok && loaded.ok && reference.p50 > 0) {
            std::printf("%-44s %8.2f x     (saga p50 %lld ms : %lld ms, same run)\n",
                        QStringLiteral("ratio p50 %1 : %2 in flight").arg(inflight).arg(referenceInflight).toUtf8().constData(),
                        double(loaded.p50) / double(reference.p50), loaded.p50, reference.p50);
            std::fflush(stdout);
        }
    };

    if (backend == "sqlite" || backend == "all") {
        EngineConfig c = base;
        c.database.kind = DatabaseUrl::Kind::Sqlite;
        c.database.path = TestServices::tempDir() + "/bench.sqlite";
        print("SQLite (WAL, synchronous=FULL)", run(c, sagas, concurrency));
        latencyRuns("SQLite", c, [](EngineConfig &l, const QString &run) {
            l.database.path = TestServices::tempDir() + "/bench-" + run + ".sqlite";
        });
    }
    if (backend == "postgres" || backend == "all") {
        QString error;
        const QString url = TestServices::newPostgresDatabase(&error);
        if (url.isEmpty()) {
            std::printf("PostgreSQL could not be started: %s\n", qPrintable(error));
            return 1;
        }
        EngineConfig c = base;
        c.database = *DatabaseUrl::parse(url, &error);
        const RunResult pg = run(c, sagas, concurrency);
        print("PostgreSQL", pg);
        const QString benchUrl = TestServices::newPostgresDatabase(&error);
        const DatabaseUrl benchDb = *DatabaseUrl::parse(benchUrl, &error);
        const double tps = pgbench(benchDb, parser.value("pgbench-seconds").toInt(), parser.value("pgbench-clients").toInt(), &error);
        if (tps <= 0) {
            std::printf("pgbench: %s\n", qPrintable(error));
        } else {
            std::printf("%-44s %8.1f tps   (-c %s -j 2 -T %s, scale 4, same cluster)\n", "pgbench -N", tps,
                        qPrintable(parser.value("pgbench-clients")), qPrintable(parser.value("pgbench-seconds")));
            std::printf("%-44s %8.2f x     (goal >= 0.25)\n", "ratio sagas/s : pgbench -N tps", pg.sagasPerSecond / tps);
        }
        latencyRuns("PostgreSQL", c, [&error](EngineConfig &l, const QString &) {
            l.database = *DatabaseUrl::parse(TestServices::newPostgresDatabase(&error), &error);
        });
    }
    return 0;
}
