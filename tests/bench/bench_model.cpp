// bench_model: throughput of the fold and of OrderTreeModel, and memory per order.
//
//   cmake --build build-model --target bench_model && build-model/tests/bench/bench_model
//
// Options: --orders N (default 100000), --fold-orders N (default 200000),
//          --repeat N (default 5; the best run of each throughput figure is reported).
// Goals (BENCHMARKS.md): >= 1,000,000 events/s through the fold; <= 1 KiB per order.

#include "../unit/model/sagascenarios.h"
#include "orderprogress.h"
#include "ordertreemodel.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <malloc.h>
#include <random>
#include <unistd.h>

// Count heap allocations (every Qt container and string allocation ends in malloc).
// The counting malloc forwards to glibc's own, so free() stays compatible.
static std::atomic<quint64> g_allocations{0};
extern "C" void *__libc_malloc(size_t size);
extern "C" void *__libc_calloc(size_t n, size_t size);
extern "C" void *__libc_realloc(void *p, size_t size);
extern "C" void *malloc(size_t size)
{
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(size);
}
extern "C" void *calloc(size_t n, size_t size)
{
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, size);
}
extern "C" void *realloc(void *p, size_t size)
{
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, size);
}

using namespace SagaScenarios;

namespace {

// The saga mix: mostly successes, every failure path represented.
Kind kindFor(std::mt19937 &rng)
{
    const int r = std::uniform_int_distribution<int>(0, 99)(rng);
    if (r < 70)
        return Kind::Success;           // 8 events
    if (r < 80)
        return Kind::InventoryFails;    // 4
    if (r < 88)
        return Kind::PaymentFails;      // 9
    if (r < 94)
        return Kind::ShippingFails;     // 13
    if (r < 97)
        return Kind::CompensationFails; // 11
    return Kind::RetryThenSuccess;      // 17
}

QUuid orderIdFor(int i)
{
    return QUuid(uint(i + 1), 0x1234, 0x4000, 0x80, 0, 0, 0, 0, 0, 0, 1);
}

// Events of `count` orders, interleaved the way a live stream arrives: a window
// of `window` sagas in flight, each contributing its next event in turn.
QVector<OrderEvent> interleavedEvents(int first, int count, int window, quint32 seed)
{
    std::mt19937 rng(seed);
    std::vector<QVector<OrderEvent>> sagas;
    sagas.reserve(size_t(count));
    qsizetype total = 0;
    for (int i = 0; i < count; ++i) {
        sagas.push_back(scenario(kindFor(rng), orderIdFor(first + i), baseTime().addMSecs(i), 150));
        total += sagas.back().size();
    }
    QVector<OrderEvent> out;
    out.reserve(total);
    std::vector<std::pair<int, int>> active; // saga, next event
    int nextSaga = 0;
    while (nextSaga < count || !active.empty()) {
        while (int(active.size()) < window && nextSaga < count)
            active.emplace_back(nextSaga++, 0);
        const size_t pick = std::uniform_int_distribution<size_t>(0, active.size() - 1)(rng);
        auto &[saga, next] = active[pick];
        out.append(sagas[size_t(saga)][next++]);
        if (next == sagas[size_t(saga)].size()) {
            active[pick] = active.back();
            active.pop_back();
        }
    }
    return out;
}

qint64 heapInUse()
{
    const struct mallinfo2 mi = mallinfo2();
    return qint64(mi.uordblks + mi.hblkhd);
}

qint64 residentBytes()
{
    QFile f(QStringLiteral("/proc/self/statm"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> parts = f.readAll().split(' ');
    return parts.size() > 1 ? parts[1].toLongLong() * sysconf(_SC_PAGESIZE) : -1;
}

int intOption(const QStringList &args, const QString &name, int fallback)
{
    const int i = args.indexOf(name);
    return (i >= 0 && i + 1 < args.size()) ? args[i + 1].toInt() : fallback;
}

struct Row {
    QString what;
    QString value;
    QString goal;
};

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    const int modelOrders = intOption(args, QStringLiteral("--orders"), 100000);
    const int foldOrders = intOption(args, QStringLiteral("--fold-orders"), 200000);
    const int repeat = std::max(1, intOption(args, QStringLiteral("--repeat"), 5));
    std::vector<Row> rows;

    std::printf("sizeof(OrderProgress) = %zu, sizeof(StepProgress) = %zu, sizeof(OrderEvent) = %zu\n",
                sizeof(OrderProgress), sizeof(StepProgress), sizeof(OrderEvent));

    // 1. The fold: events/s through OrderProgress::apply, many orders, interleaved.
    {
        const QVector<OrderEvent> events = interleavedEvents(0, foldOrders, 256, 1);
        QHash<QUuid, int> slot;
        slot.reserve(foldOrders);
        std::vector<int> target(size_t(events.size()));
        for (qsizetype i = 0; i < events.size(); ++i) {
            auto it = slot.find(events[i].orderId);
            if (it == slot.end())
                it = slot.insert(events[i].orderId, int(slot.size()));
            target[size_t(i)] = it.value();
        }
        double best = 0;
        quint64 allocations = 0;
        qint64 rejected = 0;
        for (int r = 0; r < repeat; ++r) {
            std::vector<OrderProgress> progress(static_cast<size_t>(foldOrders));
            for (auto it = slot.cbegin(); it != slot.cend(); ++it)
                progress[size_t(it.value())].orderId = it.key();
            const quint64 allocBefore = g_allocations.load();
            QElapsedTimer timer;
            timer.start();
            for (qsizetype i = 0; i < events.size(); ++i)
                rejected += progress[size_t(target[size_t(i)])].apply(events[i]).outcome == FoldResult::Rejected;
            const qint64 ns = timer.nsecsElapsed();
            allocations = g_allocations.load() - allocBefore;
            best = std::max(best, double(events.size()) * 1e9 / double(ns));
        }
        std::printf("fold: %lld events over %d orders, %d runs, rejected %lld\n", qlonglong(events.size()),
                    foldOrders, repeat, qlonglong(rejected));
        rows.push_back({QStringLiteral("fold: events/s (best of %1)").arg(repeat),
                        QString::number(qint64(best)), QStringLiteral(">= 1,000,000")});
        rows.push_back({QStringLiteral("fold: heap allocations per event"),
                        QString::number(double(allocations) / double(events.size()), 'f', 3),
                        QStringLiteral("detail strings copied out of QJsonObject (see BENCHMARKS.md)")});
        // Duplicates: a reconnecting stream re-delivers everything.
        std::vector<OrderProgress> progress(static_cast<size_t>(foldOrders));
        for (auto it = slot.cbegin(); it != slot.cend(); ++it)
            progress[size_t(it.value())].orderId = it.key();
        for (qsizetype i = 0; i < events.size(); ++i)
            progress[size_t(target[size_t(i)])].apply(events[i]);
        QElapsedTimer timer;
        timer.start();
        for (qsizetype i = 0; i < events.size(); ++i)
            progress[size_t(target[size_t(i)])].apply(events[i]);
        rows.push_back({QStringLiteral("fold: duplicate events/s"),
                        QString::number(qint64(double(events.size()) * 1e9 / double(timer.nsecsElapsed()))), {}});
    }

    // 2. Memory: 100,000 orders loaded into OrderTreeModel (events freed afterwards,
    //    so what remains is the model's own memory).
    OrderTreeModel model;
    {
        malloc_trim(0);
        const qint64 heap0 = heapInUse();
        const qint64 rss0 = residentBytes();
        const int chunk = 10000;
        for (int first = 0; first < modelOrders; first += chunk) {
            const QVector<OrderEvent> events =
                interleavedEvents(first, std::min(chunk, modelOrders - first), 256, quint32(first + 7));
            for (qsizetype i = 0; i < events.size(); i += 1000)
                model.applyEvents(events.mid(i, 1000));
        }
        malloc_trim(0);
        const qint64 heap1 = heapInUse();
        const qint64 rss1 = residentBytes();
        std::printf("model: %d orders loaded\n", model.orderCount());
        rows.push_back({QStringLiteral("model: heap bytes per order (mallinfo2)"),
                        QString::number((heap1 - heap0) / model.orderCount()), QStringLiteral("<= 1024")});
        rows.push_back({QStringLiteral("model: RSS bytes per order (/proc/self/statm)"),
                        QString::number((rss1 - rss0) / model.orderCount()), QStringLiteral("<= 1024")});
    }

    // 3. OrderTreeModel::applyEvents with 100,000 orders loaded: new sagas for
    //    fresh orders plus retries of loaded failed ones, in batches.
    {
        double best = 0;
        double bestSmall = 0;
        for (int r = 0; r < repeat; ++r) {
            const int first = modelOrders + r * 20000;
            const QVector<OrderEvent> events = interleavedEvents(first, 20000, 256, quint32(100 + r));
            QElapsedTimer timer;
            timer.start();
            const qsizetype half = events.size() / 2;
            for (qsizetype i = 0; i < half; i += 1000)
                model.applyEvents(events.mid(i, std::min<qsizetype>(1000, half - i)));
            best = std::max(best, double(half) * 1e9 / double(timer.nsecsElapsed()));
            timer.restart();
            for (qsizetype i = half; i < events.size(); i += 10)
                model.applyEvents(events.mid(i, std::min<qsizetype>(10, events.size() - i)));
            bestSmall = std::max(bestSmall, double(events.size() - half) * 1e9 / double(timer.nsecsElapsed()));
        }
        std::printf("model: %d orders after the throughput runs\n", model.orderCount());
        rows.push_back({QStringLiteral("model: applyEvents events/s, batches of 1000"),
                        QString::number(qint64(best)), QStringLiteral("(no goal; >= 100,000 loaded)")});
        rows.push_back({QStringLiteral("model: applyEvents events/s, batches of 10"),
                        QString::number(qint64(bestSmall)), {}});
    }

    std::printf("\n| measure | value | goal |\n|---|---:|---|\n");
    for (const Row &row : rows)
        std::printf("| %s | %s | %s |\n", qPrintable(row.what), qPrintable(row.value), qPrintable(row.goal));
    return 0;
}
