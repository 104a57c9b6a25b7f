// SnapshotReader against real SQLite files and a real PostgreSQL server: the bulk
// snapshots are exactly what SagaStore::loadProgress() folds from each order's
// events, for every way a saga ends and for sagas stopped half way, written
// through the store's own commit path with realistic event details.

#include "snapshotreader.h"

#include "../../unit/model/sagascenarios.h"
#include "orderprogress.h"
#include "sagastore.h"
#include "testservices.h"

#include <QSet>
#include <QSqlDatabase>
#include <QtTest>

using namespace SagaScenarios;

class tst_SnapshotReader : public QObject
{
    Q_OBJECT

private:
    int m_counter = 0;

    DatabaseUrl newDatabase(const QString &backend)
    {
        if (backend == QLatin1String("sqlite")) {
            DatabaseUrl url;
            url.kind = DatabaseUrl::Kind::Sqlite;
            url.path = TestServices::tempDir() + QStringLiteral("/snapshots-%1.sqlite").arg(++m_counter);
            return url;
        }
        QString error;
        const QString text = TestServices::newPostgresDatabase(&error);
        if (text.isEmpty())
            qFatal("PostgreSQL: %s", qPrintable(error));
        return *DatabaseUrl::parse(text, &error);
    }

    // The events of order `i`: every kind of ending, and every fifth order cut
    // short (still running, or rolling back) after a varying number of events.
    // Step events carry the details the engine writes, so a snapshot that left
    // out details the fold reads would differ.
    static QVector<OrderEvent> eventsFor(int i, const QUuid &id)
    {
        const Kind kind = Kind(i % kKindCount);
        Builder b(id, baseTime().addSecs(i), 50 + i % 5);
        appendKind(b, kind);
        QVector<OrderEvent> events = b.events();
        for (OrderEvent &e : events) {
            if (e.type == EventType::SagaStarted)
                e.details.insert(QStringLiteral("executionId"),
                                 QStringLiteral("x%1-%2").arg(i).arg(e.details.value(QStringLiteral("attemptNumber")).toInt(1)));
            else if (e.type == EventType::StepStarted)
                e.details.insert(QStringLiteral("idempotencyKey"), QStringLiteral("k-%1-%2").arg(i).arg(e.seq));
            else if (e.type == EventType::StepCompleted && e.step == SagaStep::Shipping)
                e.details.insert(QStringLiteral("estimatedDelivery"), QStringLiteral("2024-01-15"));
            else if (e.type == EventType::StepCompleted)
                e.details.insert(QStringLiteral("reservationId"), QStringLiteral("r-%1").arg(i));
        }
        if (i % 5 == 1 && events.size() > 2)
            events.resize(1 + i % (events.size() - 1));
        return events;
    }

    // Writes `orders` orders through SagaStore::commitTransitions, several orders
    // per transaction with their events interleaved (as the engine commits them).
    static void fill(SagaStore &store, int orders, QVector<QUuid> *ids)
    {
        QVector<StoreTransition> batch;
        QVector<QVector<OrderEvent>> pending;
        QVector<OrderProgress> progress;
        QVector<QString> execution;
        auto flush = [&] {
            // Round robin over the pending orders: one event of each per round.
            for (int round = 0;; ++round) {
                bool any = false;
                for (int k = 0; k < pending.size(); ++k) {
                    if (round >= pending[k].size())
                        continue;
                    any = true;
                    const OrderEvent &e = pending[k][round];
                    OrderProgress &p = progress[k];
                    p.apply(e);
                    StoreTransition t;
                    t.event = e;
                    if (e.type == EventType::SagaStarted)
                        execution[k] = e.details.value(QStringLiteral("executionId")).toString();
                    t.executionId = execution[k];
                    t.attemptNumber = p.attemptNumber;
                    t.overall = p.overallStatus;
                    t.currentStep = p.currentStep;
                    if (e.step)
                        t.stepStatus = p.step(*e.step).status;
                    if (e.seq == 1) {
                        OrderRequest request;
                        request.customerId = QUuid::fromString(e.details.value(QStringLiteral("customerId")).toString());
                        request.items = {OrderItem{QStringLiteral("sku-1"), QStringLiteral("Item"), 2, 1999}};
                        request.paymentMethodId = QStringLiteral("pm-visa-4242");
                        request.shippingAddress = ShippingAddress{QStringLiteral("1 Main St"), QStringLiteral("Springfield"),
                                                                  QStringLiteral("OR"), QStringLiteral("97403"),
                                                                  QStringLiteral("US")};
                        request.traceId = e.details.value(QStringLiteral("traceId")).toString();
                        t.newOrder = request;
                        t.newOrderId = e.orderId;
                    } else if (e.type == EventType::SagaStarted) {
                        t.retry = RetryRequest{};
                        t.retry->orderId = e.orderId;
                        t.resumedFromStep = stepDisplayName(SagaStep::Payment);
                    }
                    batch.append(t);
                }
                if (!any)
                    break;
            }
            const auto r = store.commitTransitions(batch, QStringLiteral("test-filler"), 3600 * 1000);
            QVERIFY2(r.ok(), qPrintable(r.error.message));
            batch.clear();
            pending.clear();
            progress.clear();
            execution.clear();
        };
        for (int i = 0; i < orders; ++i) {
            const QUuid id = QUuid::createUuid();
            ids->append(id);
            pending.append(eventsFor(i, id));
            progress.append(OrderProgress(id));
            execution.append(QString());
            if (pending.size() == 7 || i + 1 == orders) {
                flush();
                if (QTest::currentTestFailed())
                    return;
            }
        }
    }

    static void compareWithFold(SagaStore &store, const OrderProgress &snapshot)
    {
        const StoreResult<OrderProgress> folded = store.loadProgress(snapshot.orderId);
        QVERIFY2(folded.ok(), qPrintable(folded.error.message));
        QCOMPARE(snapshot.orderNumber, folded.value.orderNumber);
        QCOMPARE(snapshot.lastSeq, folded.value.lastSeq);
        QCOMPARE_STATUS(snapshot.overallStatus, folded.value.overallStatus);
        for (SagaStep s : kAllSteps)
            QCOMPARE_STATUS(snapshot.step(s).status, folded.value.step(s).status);
        QCOMPARE(snapshot.failure.code, folded.value.failure.code);
        QCOMPARE(snapshot.confirmationNumber, folded.value.confirmationNumber);
        QCOMPARE(snapshot.attemptNumber, folded.value.attemptNumber);
        QCOMPARE(snapshot.lastUpdated, folded.value.lastUpdated);
        QVERIFY2(snapshot == folded.value, qPrintable(snapshot.orderId.toString()));
        QCOMPARE(snapshot.bufferedCount(), 0);
    }

private Q_SLOTS:
    void readAllMatchesTheFold_data()
    {
        QTest::addColumn<QString>("backend");
        QTest::newRow("sqlite") << QStringLiteral("sqlite");
        QTest::newRow("postgres") << QStringLiteral("postgres");
    }

    void readAllMatchesTheFold()
    {
        QFETCH(QString, backend);
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(backend), connection);
        const StoreError opened = store.open();
        QVERIFY2(opened.ok(), qPrintable(opened.message));
        constexpr int kOrders = 300;
        QVector<QUuid> ids;
        fill(store, kOrders, &ids);
        if (QTest::currentTestFailed())
            return;

        SnapshotReader reader(connection);
        SnapshotReader::Options options;
        options.firstChunk = 37;
        options.chunk = 100;
        QVector<QVector<OrderProgress>> chunks;
        int count = -1;
        const StoreError error = reader.readAll([&](QVector<OrderProgress> chunk) { chunks.append(std::move(chunk)); },
                                                options, &count);
        QVERIFY2(error.ok(), qPrintable(error.message));
        QCOMPARE(count, kOrders);
        // 37 newest at once, then the other 263 in chunks of at most 100.
        QCOMPARE(chunks.size(), 4);
        QCOMPARE(chunks.at(0).size(), 37);
        QCOMPARE(chunks.at(1).size(), 100);
        QCOMPARE(chunks.at(3).size(), 63);

        QSet<QUuid> seen;
        QSet<int> outcomes;
        QDateTime previous;
        for (const QVector<OrderProgress> &chunk : std::as_const(chunks)) {
            for (const OrderProgress &p : chunk) {
                QVERIFY2(!seen.contains(p.orderId), "an order was delivered twice");
                seen.insert(p.orderId);
                // Newest first across all chunks.
                if (previous.isValid())
                    QVERIFY(p.createdAt <= previous);
                previous = p.createdAt;
                outcomes.insert(int(p.overallStatus));
                compareWithFold(store, p);
                if (QTest::currentTestFailed())
                    return;
            }
        }
        QCOMPARE(seen, QSet<QUuid>(ids.cbegin(), ids.cend()));
        // Every overall status occurs (finished and cut short).
        QCOMPARE(outcomes.size(), kOverallStatusCount);
    }

    void readGivenOrders_data() { readAllMatchesTheFold_data(); }

    void readGivenOrders()
    {
        QFETCH(QString, backend);
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(backend), connection);
        QVERIFY(store.open().ok());
        QVector<QUuid> ids;
        fill(store, 24, &ids);
        if (QTest::currentTestFailed())
            return;
        const QVector<QUuid> wanted{ids.at(5), QUuid::createUuid(), ids.at(0), ids.at(23), ids.at(11)};
        const StoreResult<QVector<OrderProgress>> r = SnapshotReader(connection).read(wanted);
        QVERIFY2(r.ok(), qPrintable(r.error.message));
        QCOMPARE(r.value.size(), 4); // the unknown id is left out
        QCOMPARE(r.value.at(0).orderId, ids.at(5));
        QCOMPARE(r.value.at(1).orderId, ids.at(0));
        QCOMPARE(r.value.at(2).orderId, ids.at(23));
        QCOMPARE(r.value.at(3).orderId, ids.at(11));
        for (const OrderProgress &p : r.value) {
            compareWithFold(store, p);
            if (QTest::currentTestFailed())
                return;
        }
    }

    void emptyDatabase()
    {
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(QStringLiteral("sqlite")), connection);
        QVERIFY(store.open().ok());
        int calls = 0;
        int count = -1;
        const StoreError error = SnapshotReader(connection).readAll([&](QVector<OrderProgress>) { ++calls; }, &count);
        QVERIFY(error.ok());
        QCOMPARE(calls, 0);
        QCOMPARE(count, 0);
    }

    void closedConnectionIsUnavailable()
    {
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(QStringLiteral("sqlite")), connection);
        QVERIFY(store.open().ok());
        QSqlDatabase::database(connection, false).close();
        int calls = 0;
        const StoreError error = SnapshotReader(connection).readAll([&](QVector<OrderProgress>) { ++calls; });
        QCOMPARE(int(error.kind), int(StoreError::Unavailable));
        QCOMPARE(calls, 0);
        QCOMPARE(int(SnapshotReader(connection).read({QUuid::createUuid()}).error.kind), int(StoreError::Unavailable));
    }
};

QTEST_GUILESS_MAIN(tst_SnapshotReader)
#include "tst_snapshotreader.moc"
