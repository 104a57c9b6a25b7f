// Console benchmark (BENCHMARKS.md, "Console (issue 5)"):
//  1. 100,000 orders loaded to first paint, from SQLite (embedded source) and
//     PostgreSQL (database source); the stores are filled first.
//  2. 5,000 events/s sustained into the live window for N seconds; the longest
//     GUI event-loop stall is measured with a 2 ms probe timer.
//  3. RSS with 100,000 orders loaded.
//
// Usage: bench_console [--orders N] [--seconds S] [--rate EVENTS_PER_S] [--no-postgres]
//                      [--sqlite PATH (kept, reused when it exists)] [--batch-ms MS]
// Runs with any QPA platform (offscreen by default, so the window really paints).

#include "../unit/model/sagascenarios.h"
#include "databasesource.h"
#include "embeddedsource.h"
#include "eventbatcher.h"
#include "mainwindow.h"
#include "orderrecord.h"
#include "ordertreemodel.h"
#include "sagastore.h"
#include "storetransition.h"
#include "testservices.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>
#include <QTest>
#include <QTreeView>

#include <cstdio>
#include <ctime>

using namespace SagaScenarios;

namespace {

double rssMb()
{
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> lines = f.readAll().split('\n');
    for (const QByteArray &line : lines) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toDouble() / 1024.0;
    }
    return -1;
}

// Writes `orders` finished sagas (70% completed, 20% rolled back, 10% failed)
// through the store's own commit path, 250 orders per transaction.
bool fill(const DatabaseUrl &url, int orders, QString *error)
{
    SagaStore store(url, QStringLiteral("bench-fill"));
    if (StoreError e = store.open()) {
        *error = e.message;
        return false;
    }
    QElapsedTimer timer;
    timer.start();
    const QDateTime start = QDateTime::currentDateTimeUtc().addSecs(-3600);
    QVector<StoreTransition> batch;
    for (int i = 0; i < orders; ++i) {
        const int r = i % 10;
        const Kind kind = r < 7 ? Kind::Success : r < 9 ? Kind::PaymentFails : Kind::InventoryFails;
        const QUuid id = QUuid::createUuid();
        const QString executionId = QStringLiteral("bench-%1").arg(i);
        OrderProgress progress(id);
        for (OrderEvent e : scenario(kind, id, start.addMSecs(qint64(i) * 30), 250 + (i % 7) * 60)) {
            e.details.insert(QStringLiteral("executionId"), executionId);
            progress.apply(e);
            StoreTransition t;
            t.event = e;
            t.executionId = executionId;
            t.overall = progress.overallStatus;
            t.currentStep = progress.currentStep;
            if (e.step)
                t.stepStatus = progress.step(*e.step).status;
            if (e.seq == 1) {
                OrderRequest request;
                request.customerId = QUuid::createUuid();
                request.items = {OrderItem{QStringLiteral("sku-%1").arg(i % 50), QStringLiteral("Item"), 1 + i % 3, 1999}};
                request.paymentMethodId = QStringLiteral("pm-visa-4242");
                request.shippingAddress = ShippingAddress{QStringLiteral("1 Main St"), QStringLiteral("Springfield"),
                                                          QStringLiteral("OR"), QStringLiteral("97403"), QStringLiteral("US")};
                t.newOrder = request;
                t.newOrderId = id;
            }
            batch.append(std::move(t));
        }
        if ((i + 1) % 250 == 0 || i + 1 == orders) {
            auto r = store.commitTransitions(batch, QStringLiteral("bench-filler"), 3600 * 1000);
            if (!r.ok()) {
                *error = r.error.message;
                return false;
            }
            batch.clear();
        }
    }
    std::printf("  filled %d orders in %.1f s\n", orders, timer.elapsed() / 1000.0);
    std::fflush(stdout);
    return true;
}

struct LoadResult {
    double loadMs = -1;  // start -> initialLoadFinished
    double paintMs = -1; // start -> first paint of the tree with all the orders
    double firstChunkPaintMs = -1; // start -> first paint with some orders
    double rss = -1;
    int orders = 0;
};

// Paint events of the tree's viewport after the load finished.
class PaintWatcher : public QObject
{
public:
    bool armed = false;
    qint64 paintedAt = -1;
    qint64 firstOrdersPaintedAt = -1; // first paint showing any orders (first chunk)
    QElapsedTimer *clock = nullptr;
    const OrderTreeModel *model = nullptr;
    bool eventFilter(QObject *o, QEvent *e) override
    {
        if (e->type() == QEvent::Paint && firstOrdersPaintedAt < 0 && model && model->orderCount() > 0)
            firstOrdersPaintedAt = clock->elapsed();
        if (armed && e->type() == QEvent::Paint && paintedAt < 0) {
            const bool r = QObject::eventFilter(o, e);
            paintedAt = clock->elapsed();
            return r;
        }
        return false;
    }
};

LoadResult measureLoad(MainWindow &window, ProgressSource *source, const SourceSpec &spec, int expected)
{
    LoadResult result;
    QElapsedTimer clock;
    PaintWatcher watcher;
    watcher.clock = &clock;
    watcher.model = window.model();
    window.treeView()->viewport()->installEventFilter(&watcher);
    QObject::connect(source, &ProgressSource::initialLoadFinished, &window, [&](int orders) {
        result.orders = orders;
        window.eventBatcher()->flush();
        result.loadMs = clock.elapsed();
        watcher.armed = true;
        window.treeView()->viewport()->update();
    });
    clock.start();
    window.setSource(source, spec);
    if (!QTest::qWaitFor([&] { return watcher.paintedAt >= 0; }, 600000))
        std::printf("  (no paint within 10 minutes)\n");
    result.paintMs = watcher.paintedAt;
    result.firstChunkPaintMs = watcher.firstOrdersPaintedAt;
    window.treeView()->viewport()->removeEventFilter(&watcher);
    result.rss = rssMb();
    if (result.orders != expected || window.model()->orderCount() < expected)
        std::printf("  WARNING: expected %d orders, source said %d, model has %d\n", expected, result.orders,
                    window.model()->orderCount());
    return result;
}

struct StallResult {
    qint64 events = 0;
    double seconds = 0;
    double maxStallMs = 0;
    double p99StallMs = 0;
    double maxBusyMs = 0; // GUI thread CPU time within the longest-busy probe gap (load-independent)
    double p99BusyMs = 0;
};

double threadCpuMs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1000.0 + double(ts.tv_nsec) / 1e6;
}

// Feeds new sagas (8 events each) at `rate` events/s through the window's
// batcher, as a source does, while a 2 ms probe timer measures the stalls.
StallResult measureStall(MainWindow &window, int rate, int seconds)
{
    StallResult result;
    QVector<OrderEvent> pool;
    QElapsedTimer clock;
    clock.start();
    qint64 lastProbe = 0;
    double lastCpu = 0;
    QVector<double> gaps;
    QVector<double> busy;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    probe.setInterval(2);
    QObject::connect(&probe, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        const double cpu = threadCpuMs();
        if (lastProbe > 0) {
            gaps.append((now - lastProbe) / 1e6);
            busy.append(cpu - lastCpu);
        }
        lastProbe = now;
        lastCpu = cpu;
    });
    // Sagas in flight: each tick advances every in-flight saga by one event and
    // starts new ones, so events interleave as they do live.
    struct Flight {
        QVector<OrderEvent> events;
        int next = 0;
    };
    std::vector<Flight> flights;
    const QDateTime base = QDateTime::currentDateTimeUtc();
    qint64 emitted = 0;
    int counter = 0;
    QTimer feeder;
    feeder.setTimerType(Qt::PreciseTimer);
    feeder.setInterval(10);
    QObject::connect(&feeder, &QTimer::timeout, [&] {
        const qint64 due = qint64(double(clock.elapsed()) * rate / 1000.0);
        QVector<OrderEvent> batch;
        while (emitted + batch.size() < due) {
            if (flights.size() < 400) {
                const Kind kind = (counter % 10) < 7 ? Kind::Success : Kind::ShippingFails;
                flights.push_back({scenario(kind, QUuid::createUuid(), base.addMSecs(counter), 40), 0});
                ++counter;
            }
            for (size_t i = 0; i < flights.size() && emitted + batch.size() < due; ++i) {
                Flight &f = flights[i];
                batch.append(f.events.at(f.next++));
            }
            flights.erase(std::remove_if(flights.begin(), flights.end(),
                                         [](const Flight &f) { return f.next >= f.events.size(); }),
                          flights.end());
        }
        emitted += batch.size();
        window.eventBatcher()->addEvents(batch);
    });
    probe.start();
    feeder.start();
    QTest::qWait(seconds * 1000);
    feeder.stop();
    probe.stop();
    result.events = emitted;
    result.seconds = clock.elapsed() / 1000.0;
    std::sort(gaps.begin(), gaps.end());
    if (!gaps.isEmpty()) {
        result.maxStallMs = gaps.last();
        result.p99StallMs = gaps.at(qsizetype(gaps.size() * 0.99));
        std::sort(busy.begin(), busy.end());
        result.maxBusyMs = busy.last();
        result.p99BusyMs = busy.at(qsizetype(busy.size() * 0.99));
    }
    return result;
}

void printLoad(const char *what, const LoadResult &r)
{
    std::printf("  %-10s orders %d  first rows painted %.0f ms  all loaded %.0f ms  painted %.0f ms  RSS %.0f MB\n",
                what, r.orders, r.firstChunkPaintMs, r.loadMs, r.paintMs, r.rss);
    std::fflush(stdout);
}

} // namespace

int main(int argc, char *argv[])
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    if (qEnvironmentVariableIsEmpty("QT_LOGGING_RULES"))
        qputenv("QT_LOGGING_RULES", "saga.*.info=false");
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("SagaConsoleBench"));
    QStandardPaths::setTestModeEnabled(true);
    const QStringList args = app.arguments();
    auto intArg = [&](const char *name, int fallback) {
        const int i = args.indexOf(QLatin1String(name));
        return i >= 0 && i + 1 < args.size() ? args.at(i + 1).toInt() : fallback;
    };
    const int orders = intArg("--orders", 100000);
    const int seconds = intArg("--seconds", 10);
    const int rate = intArg("--rate", 5000);
    const bool postgres = !args.contains(QStringLiteral("--no-postgres"));
    std::printf("bench_console: %d orders, %d events/s for %d s\n", orders, rate, seconds);

    // ---- SQLite (embedded) ----
    QString error;
    // --sqlite PATH keeps the filled file (and reuses it when it exists) between runs.
    const int fileArg = args.indexOf(QStringLiteral("--sqlite"));
    const QString file = fileArg >= 0 && fileArg + 1 < args.size()
                             ? args.at(fileArg + 1)
                             : TestServices::tempDir() + QStringLiteral("/bench.sqlite");
    const bool reuse = fileArg >= 0 && QFileInfo(file).size() > 0;
    const DatabaseUrl sqlite = *DatabaseUrl::parse(QStringLiteral("sqlite:") + file, nullptr);
    if (reuse)
        std::printf("  reusing %s\n", qPrintable(file));
    if (!reuse && !fill(sqlite, orders, &error)) {
        std::fprintf(stderr, "cannot fill SQLite: %s\n", qPrintable(error));
        return 1;
    }
    LoadResult sqliteLoad;
    StallResult stall;
    double rssAfterStream = -1;
    int ordersAfterStream = 0;
    {
        MainWindow window;
        window.resize(1400, 900);
        window.show();
        QTest::qWait(200);
        EngineConfig config;
        config.database = sqlite;
        config.stepDelayMs = 0;
        SourceSpec spec;
        spec.embeddedDatabase = sqlite;
        sqliteLoad = measureLoad(window, new EmbeddedSource(config), spec, orders);
        printLoad("SQLite", sqliteLoad);
        const int batchMs = intArg("--batch-ms", 0);
        if (batchMs > 0)
            window.eventBatcher()->setInterval(batchMs);
        stall = measureStall(window, rate, seconds);
        rssAfterStream = rssMb();
        ordersAfterStream = window.model()->orderCount();
        std::printf("  stream     %lld events in %.1f s (%.0f events/s)  longest stall %.1f ms  p99 gap %.1f ms  "
                    "(GUI CPU in a gap: max %.1f ms, p99 %.1f ms)  orders %d  RSS %.0f MB\n",
                    stall.events, stall.seconds, stall.events / stall.seconds, stall.maxStallMs, stall.p99StallMs,
                    stall.maxBusyMs, stall.p99BusyMs, ordersAfterStream, rssAfterStream);
        std::fflush(stdout);
    }

    // ---- PostgreSQL (database source) ----
    if (postgres) {
        const QString pgUrl = TestServices::newPostgresDatabase(&error);
        if (pgUrl.isEmpty()) {
            std::fprintf(stderr, "PostgreSQL not available: %s\n", qPrintable(error));
            return 1;
        }
        const DatabaseUrl pg = *DatabaseUrl::parse(pgUrl, nullptr);
        if (!fill(pg, orders, &error)) {
            std::fprintf(stderr, "cannot fill PostgreSQL: %s\n", qPrintable(error));
            return 1;
        }
        MainWindow window;
        window.resize(1400, 900);
        window.show();
        QTest::qWait(200);
        SourceSpec spec;
        spec.kind = SourceSpec::Kind::Database;
        spec.databaseUrl = pgUrl;
        const LoadResult pgLoad = measureLoad(window, new DatabaseSource(pg), spec, orders);
        printLoad("PostgreSQL", pgLoad);
    }
    return 0;
}
