// SnapshotReader against real SQLite files and a real PostgreSQL server: the bulk
// snapshots are exactly what SagaStore::loadProgress() folds from each order's
// events, for every way a saga ends and for sagas stopped half way, written
// through the store's own commit path with realistic event details.

#include "snapshotreader.h"

#include "../../unit/model/sagascenarios.h"
#include "orderprogress.h"
#include "sagajson.h"
#include "sagastore.h"
#include "storetestdatabase.h"
#include "testservices.h"

#include <QSet>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>
#include <QtTest>

using namespace SagaScenarios;

class tst_SnapshotReader : public QObject
{
    Q_OBJECT

private:
    int m_counter = 0; // connection names

    static DatabaseUrl newDatabase(const QString &backend) { return newStoreTestDatabase(backend, QStringLiteral("snapshots")); }

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
            // Every third order's payment was taken over after an interruption: its
            // end says when the resumed attempt started (the fold reads it).
            const bool forwardEnd = e.type == EventType::StepCompleted
                || (e.type == EventType::StepFailed
                    && e.details.value(QStringLiteral("phase")).toString() != QLatin1String("COMPENSATION"));
            if (i % 3 == 0 && forwardEnd && e.step == SagaStep::Payment) {
                e.details.insert(QStringLiteral("resumed"), true);
                e.details.insert(QStringLiteral("resumedAt"), SagaJson::formatTimestamp(e.timestamp.addMSecs(-10)));
            }
        }
        if (i % 5 == 1 && events.size() > 2)
            events.resize(1 + i % (events.size() - 1));
        return events;
    }

    // Text the JSON and SQL layers must carry unchanged: quotes, backslashes,
    // JSON escapes, control characters, non-ASCII (2-, 3- and 4-byte UTF-8).
    static QString awkward(const char *what, int i)
    {
        return QStringLiteral("%1 %2: 'single' \"double\" back\\slash \\\\ \\u0041 tab\tnew\nline "
                              "Ümläut „quoted“ – 注文 😀 }{][,:")
            .arg(QLatin1String(what))
            .arg(i);
    }

    // As eventsFor(), with awkward text in the values the fold reads from details
    // (trace id, error code and message, confirmation number; the store assigns
    // the order number itself).
    static QVector<OrderEvent> awkwardEventsFor(int i, const QUuid &id)
    {
        QVector<OrderEvent> events = eventsFor(i, id);
        for (OrderEvent &e : events) {
            if (e.type == EventType::SagaStarted) {
                e.details.insert(QStringLiteral("traceId"), awkward("trace", i));
            } else if (e.type == EventType::StepFailed) {
                e.error.code = awkward("code", i);
                e.error.message = awkward("message", i);
            } else if (e.type == EventType::SagaCompleted) {
                e.details.insert(QStringLiteral("confirmationNumber"), awkward("confirmation", i));
            }
        }
        return events;
    }

    // Writes `orders` orders through SagaStore::commitTransitions, several orders
    // per transaction with their events interleaved (as the engine commits them).
    static void fill(SagaStore &store, int orders, QVector<QUuid> *ids,
                     QVector<OrderEvent> (*events)(int, const QUuid &) = eventsFor)
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
            pending.append(events(i, id));
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

        const bool postgres = backend == QLatin1String("postgres");
        if (postgres) // the reader turns JIT off for its reads and puts the session's setting back
            QVERIFY(QSqlQuery(QSqlDatabase::database(connection, false)).exec(QStringLiteral("SET jit = on")));
        SnapshotReader reader(connection);
        SnapshotReader::Options options;
        options.firstChunk = 37;
        options.chunk = 100;
        QVector<QVector<OrderProgress>> chunks;
        int count = -1;
        const StoreError error = reader.readAll([&](QVector<OrderProgress> chunk) { chunks.append(std::move(chunk)); },
                                                options, &count);
        QVERIFY2(error.ok(), qPrintable(error.message));
        // PostgreSQL is read through libpq (binary COPY), SQLite through its sqlite3 handle.
        QCOMPARE(reader.lastReadUsedLibpq(), postgres);
        QCOMPARE(reader.lastReadUsedSqliteHandle(), !postgres);
        if (postgres) {
            QSqlQuery jit(QSqlDatabase::database(connection, false));
            QVERIFY(jit.exec(QStringLiteral("SHOW jit")) && jit.next());
            QCOMPARE(jit.value(0).toString(), QStringLiteral("on"));
        }
        QCOMPARE(count, kOrders);
        // 37 newest at once, then the other 263 in chunks of at most 100.
        QCOMPARE(chunks.size(), 4);
        QCOMPARE(chunks.at(0).size(), 37);
        QCOMPARE(chunks.at(1).size(), 100);
        QCOMPARE(chunks.at(3).size(), 63);

        QSet<QUuid> seen;
        QSet<int> outcomes;
        QDateTime previous;
        int resumed = 0;
        for (const QVector<OrderProgress> &chunk : std::as_const(chunks)) {
            for (const OrderProgress &p : chunk) {
                QVERIFY2(!seen.contains(p.orderId), "an order was delivered twice");
                seen.insert(p.orderId);
                for (const StepProgress &sp : p.steps)
                    resumed += sp.resumedAt.isValid() ? 1 : 0;
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
        QVERIFY(resumed > 0); // steps taken over are among them
        // The stored step durations (that seed a console's ETA) are the fold's, one
        // row per execution and step: a step taken over counts from its resumed
        // attempt's start.
        std::array<QVector<qint64>, kStepCount> durations;
        for (int i = 0; i < kOrders; ++i) {
            const QVector<OrderEvent> events = eventsFor(i, ids[i]);
            OrderProgress p(ids[i]);
            auto finished = [&] { // as recentStepDurations selects them
                for (const StepProgress &sp : p.steps) {
                    if (sp.durationMs() >= 0
                        && (sp.status == StepStatus::Completed || sp.status == StepStatus::Compensating
                            || sp.status == StepStatus::Compensated))
                        durations[size_t(sp.step)].append(sp.durationMs());
                }
            };
            for (const OrderEvent &e : events) {
                if (e.type == EventType::SagaStarted && e.seq > 1)
                    finished(); // the retried execution's rows stay
                p.apply(e);
            }
            finished();
        }
        const auto stored = store.recentStepDurations(100000);
        QVERIFY2(stored.ok(), qPrintable(stored.error.message));
        std::array<QVector<qint64>, kStepCount> storedDurations;
        for (const auto &[step, ms] : stored.value)
            storedDurations[size_t(step)].append(ms);
        for (SagaStep s : kAllSteps) {
            std::sort(durations[size_t(s)].begin(), durations[size_t(s)].end());
            std::sort(storedDurations[size_t(s)].begin(), storedDurations[size_t(s)].end());
            QCOMPARE(storedDurations[size_t(s)], durations[size_t(s)]);
        }
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

    // Awkward text in details, NULL and unknown step names and an unknown event
    // type: the snapshots still equal SagaStore::loadProgress() and carry the
    // text unchanged (PostgreSQL: raw UTF-8 from binary COPY to the JSON parser).
    void readAllKeepsTextAndOddRows_data() { readAllMatchesTheFold_data(); }

    void readAllKeepsTextAndOddRows()
    {
        QFETCH(QString, backend);
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(backend), connection);
        QVERIFY(store.open().ok());
        constexpr int kOrders = 40;
        QVector<QUuid> ids;
        fill(store, kOrders, &ids, awkwardEventsFor);
        if (QTest::currentTestFailed())
            return;
        // Rows the engine never writes, decoded as SagaStore decodes them (text
        // compared byte for byte): an unknown event type with a NULL step (read as
        // Unrecognized), an empty, an unknown and a wrongly cased step name (read
        // as no step). Orders 1, 11 and 16 are cut short, where the same event
        // with a real step would be applied: a decoding that found a step in
        // those names would show.
        QSqlDatabase db = QSqlDatabase::database(connection, false);
        QSqlQuery q(db);
        QVERIFY(q.exec(QStringLiteral("SELECT MAX(position) FROM order_events")) && q.next());
        qint64 position = q.value(0).toLongLong();
        struct Odd {
            int order;
            const char *type;
            const char *step; // nullptr: NULL
        };
        const Odd odd[] = {{3, "SOMETHING_NEW", nullptr},
                           {1, "STEP_COMPLETED", ""},
                           {11, "STEP_STARTED", "Gift Wrapping"},
                           {16, "STEP_STARTED", "inventory reservation"}};
        for (const Odd &o : odd) {
            QSqlQuery insert(db);
            QVERIFY(insert.prepare(QStringLiteral("INSERT INTO order_events (order_id, seq, position, event_type, "
                                                  "step_name, details, created_at) SELECT order_id, MAX(seq) + 1, ?, "
                                                  "?, ?, '{\"note\": \"odd\"}', MAX(created_at) + 1 "
                                                  "FROM order_events WHERE order_id = ? GROUP BY order_id")));
            insert.addBindValue(++position);
            insert.addBindValue(QString::fromLatin1(o.type));
            insert.addBindValue(o.step ? QVariant(QString::fromLatin1(o.step)) : QVariant(QMetaType::fromType<QString>()));
            insert.addBindValue(ids.at(o.order).toString(QUuid::WithoutBraces));
            QVERIFY2(insert.exec(), qPrintable(insert.lastError().text()));
            QCOMPARE(insert.numRowsAffected(), 1);
        }

        for (const int firstChunk : {7, 1000}) { // odd orders in the first chunk and in the scan
            SnapshotReader reader(connection);
            SnapshotReader::Options options;
            options.firstChunk = firstChunk;
            options.chunk = 9;
            QVector<OrderProgress> all;
            int count = -1;
            const StoreError error = reader.readAll([&](QVector<OrderProgress> chunk) { all += std::move(chunk); },
                                                    options, &count);
            QVERIFY2(error.ok(), qPrintable(error.message));
            QCOMPARE(reader.lastReadUsedLibpq(), backend == QLatin1String("postgres"));
            QCOMPARE(reader.lastReadUsedSqliteHandle(), backend == QLatin1String("sqlite"));
            QCOMPARE(count, kOrders);
            QCOMPARE(all.size(), kOrders);
            int failures = 0;
            int confirmations = 0;
            for (const OrderProgress &p : std::as_const(all)) {
                compareWithFold(store, p);
                if (QTest::currentTestFailed())
                    return;
                const int i = int(ids.indexOf(p.orderId));
                QVERIFY(i >= 0);
                QCOMPARE(p.traceId, awkward("trace", i));
                if (!p.failure.isNull()) {
                    QCOMPARE(p.failure.code, awkward("code", i));
                    QCOMPARE(p.failure.message, awkward("message", i));
                    ++failures;
                }
                if (!p.confirmationNumber.isEmpty()) {
                    QCOMPARE(p.confirmationNumber, awkward("confirmation", i));
                    ++confirmations;
                }
            }
            QVERIFY(failures > 0);
            QVERIFY(confirmations > 0);
        }
    }

    // A type this program does not know in the middle of an order (a newer
    // version's, during a rolling upgrade): SagaStore reads it with its name, the
    // fold passes over it and the order ends as its later events say, in the
    // store's fold and in the bulk snapshot alike. Read as SAGA_STARTED it was
    // refused, and the order stayed IN_PROGRESS at seq 2 for good.
    void unrecognizedEventMidSagaIsPassedOver_data() { readAllMatchesTheFold_data(); }

    void unrecognizedEventMidSagaIsPassedOver()
    {
        QFETCH(QString, backend);
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(backend), connection);
        QVERIFY(store.open().ok());
        QVector<QUuid> ids;
        fill(store, 3, &ids); // order 0: a saga that completed (8 events)
        if (QTest::currentTestFailed())
            return;
        const QString id = ids.at(0).toString(QUuid::WithoutBraces);
        QSqlDatabase db = QSqlDatabase::database(connection, false);
        QSqlQuery q(db);
        // Its events from seq 3 on move one on; the newer version's event is seq 3.
        for (const char *sql : {"UPDATE order_events SET seq = seq + 1000 WHERE order_id = ? AND seq >= 3",
                                "UPDATE order_events SET seq = seq - 999 WHERE order_id = ? AND seq >= 1000"}) {
            QVERIFY(q.prepare(QString::fromLatin1(sql)));
            q.addBindValue(id);
            QVERIFY2(q.exec(), qPrintable(q.lastError().text()));
            QCOMPARE(q.numRowsAffected(), 6);
        }
        QVERIFY2(q.exec(QStringLiteral("UPDATE saga_counters SET last_position = last_position + 1")),
                 qPrintable(q.lastError().text()));
        QVERIFY(q.prepare(QStringLiteral("INSERT INTO order_events (order_id, seq, position, event_type, step_name, "
                                         "details, created_at) SELECT order_id, 3, (SELECT last_position FROM "
                                         "saga_counters), 'INVENTORY_HELD_FOR_REVIEW', 'Inventory Reservation', "
                                         "'{\"reviewer\": \"r-1\"}', created_at + 1 FROM order_events "
                                         "WHERE order_id = ? AND seq = 2")));
        q.addBindValue(id);
        QVERIFY2(q.exec(), qPrintable(q.lastError().text()));
        QCOMPARE(q.numRowsAffected(), 1);

        const auto events = store.loadEvents(ids.at(0));
        QVERIFY2(events.ok(), qPrintable(events.error.message));
        QCOMPARE(events.value.size(), 9);
        const OrderEvent &unknown = events.value.at(2);
        QCOMPARE(unknown.seq, 3);
        QCOMPARE(toString(unknown.type), toString(EventType::Unrecognized));
        QCOMPARE(unknown.typeName, QStringLiteral("INVENTORY_HELD_FOR_REVIEW"));
        QCOMPARE(eventTypeName(unknown), QStringLiteral("INVENTORY_HELD_FOR_REVIEW"));
        QCOMPARE(unknown.step, std::optional<SagaStep>(SagaStep::Inventory));
        QCOMPARE(unknown.details.value(QLatin1String("reviewer")).toString(), QStringLiteral("r-1"));
        QCOMPARE(toString(events.value.at(3).type), toString(EventType::StepCompleted));

        const auto folded = store.loadProgress(ids.at(0));
        QVERIFY2(folded.ok(), qPrintable(folded.error.message));
        QCOMPARE(folded.value.lastSeq, 9);
        QCOMPARE_STATUS(folded.value.overallStatus, OverallStatus::Completed);

        SnapshotReader reader(connection);
        QVector<OrderProgress> all;
        int count = -1;
        const StoreError error =
            reader.readAll([&](QVector<OrderProgress> chunk) { all += std::move(chunk); }, &count);
        QVERIFY2(error.ok(), qPrintable(error.message));
        QCOMPARE(count, 3);
        QCOMPARE(all.size(), 3);
        for (const OrderProgress &p : std::as_const(all)) {
            compareWithFold(store, p);
            if (QTest::currentTestFailed())
                return;
        }
        const auto it = std::find_if(all.cbegin(), all.cend(), [&](const OrderProgress &p) { return p.orderId == ids.at(0); });
        QVERIFY(it != all.cend());
        QCOMPARE(it->lastSeq, 9);
        QCOMPARE_STATUS(it->overallStatus, OverallStatus::Completed);
    }

    // The server ends the reader's connection while the scan runs (the backend
    // is terminated while its COPY waits for a lock): a StoreError of kind
    // Unavailable that says what happened, no crash, and the next read on the
    // dead connection is Unavailable too.
    void connectionLostDuringScanIsUnavailable()
    {
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(QStringLiteral("postgres")), connection);
        QVERIFY(store.open().ok());
        QVector<QUuid> ids;
        fill(store, 30, &ids);
        if (QTest::currentTestFailed())
            return;

        const QString lockName = connection + QStringLiteral("-lock");
        QAtomicInt terminated = 0;
        QThread *killer = nullptr;
        int calls = 0;
        SnapshotReader reader(connection);
        SnapshotReader::Options options;
        options.firstChunk = 5;
        const StoreError error = reader.readAll(
            [&](QVector<OrderProgress>) {
                if (++calls > 1)
                    return;
                // After the first chunk: hold a lock the scan must wait for, and
                // terminate the reader's backend once it waits.
                QSqlDatabase lock = QSqlDatabase::cloneDatabase(connection, lockName);
                QVERIFY(lock.open());
                QSqlQuery q(lock);
                QVERIFY(q.exec(QStringLiteral("BEGIN")));
                QVERIFY(q.exec(QStringLiteral("LOCK TABLE order_events IN ACCESS EXCLUSIVE MODE")));
                const QString killerName = connection + QStringLiteral("-killer");
                killer = QThread::create([&terminated, connection, killerName] {
                    {
                        QSqlDatabase db = QSqlDatabase::cloneDatabase(connection, killerName);
                        if (db.open()) {
                            QSqlQuery k(db);
                            for (int i = 0; i < 500 && !terminated; ++i) {
                                if (k.exec(QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                                          "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                                                          "AND wait_event_type = 'Lock' AND query LIKE 'COPY%'"))
                                    && k.next() && k.value(0).toBool())
                                    terminated = 1;
                                else
                                    QThread::msleep(20);
                            }
                        }
                        db.close();
                    }
                    QSqlDatabase::removeDatabase(killerName);
                });
                killer->start();
            },
            options);
        if (killer) {
            killer->wait();
            delete killer;
        }
        {
            QSqlDatabase lock = QSqlDatabase::database(lockName, false);
            if (lock.isOpen())
                QSqlQuery(lock).exec(QStringLiteral("ROLLBACK"));
            lock.close();
        }
        QSqlDatabase::removeDatabase(lockName);
        QVERIFY2(terminated.loadRelaxed() == 1, "the reader's backend was never seen waiting for the lock");
        QVERIFY(reader.lastReadUsedLibpq());
        QCOMPARE(calls, 1);
        QCOMPARE(int(error.kind), int(StoreError::Unavailable));
        QVERIFY2(error.message.startsWith(QLatin1String("read events: ")), qPrintable(error.message));
        QVERIFY2(error.message.contains(QLatin1String("terminat")), qPrintable(error.message));

        // The connection is gone: the next read says so as well.
        int again = 0;
        const StoreError next = SnapshotReader(connection).readAll([&](QVector<OrderProgress>) { ++again; });
        QCOMPARE(int(next.kind), int(StoreError::Unavailable));
        QCOMPARE(again, 0);
    }

    // A NOTIFY that reaches the reader's connection while it reads (libpq takes
    // it off the socket, so the socket does not signal it again) still reaches
    // the driver's notification signal afterwards, as after a QtSql query.
    void notificationDuringReadIsDelivered()
    {
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(QStringLiteral("postgres")), connection);
        QVERIFY(store.open().ok());
        QVector<QUuid> ids;
        fill(store, 20, &ids);
        if (QTest::currentTestFailed())
            return;
        QSqlDriver *driver = QSqlDatabase::database(connection, false).driver();
        QVERIFY(driver->subscribeToNotification(QStringLiteral("snapshot_test")));
        QSignalSpy spy(driver, &QSqlDriver::notification);
        QTest::qWait(20); // QPSQL's own check after LISTEN runs now, not after the read
        QCOMPARE(spy.count(), 0);
        const QString otherName = connection + QStringLiteral("-notify");
        int calls = 0;
        SnapshotReader reader(connection);
        SnapshotReader::Options options;
        options.firstChunk = 5;
        const StoreError error = reader.readAll(
            [&](QVector<OrderProgress>) {
                if (++calls > 1)
                    return;
                // Between the two reads, so the notification is waiting when the scan starts.
                QSqlDatabase other = QSqlDatabase::cloneDatabase(connection, otherName);
                QVERIFY(other.open());
                QVERIFY(QSqlQuery(other).exec(QStringLiteral("NOTIFY snapshot_test, 'during the read'")));
                other.close();
                QThread::msleep(50); // the server sends it to the idle reader now: libpq reads it with the scan
            },
            options);
        QSqlDatabase::removeDatabase(otherName);
        QVERIFY2(error.ok(), qPrintable(error.message));
        QVERIFY(reader.lastReadUsedLibpq());
        QCOMPARE(calls, 2);
        QTRY_COMPARE(spy.count(), 1);
        QCOMPARE(spy.at(0).at(0).toString(), QStringLiteral("snapshot_test"));
        QCOMPARE(spy.at(0).at(2).toString(), QStringLiteral("during the read"));
        driver->unsubscribeFromNotification(QStringLiteral("snapshot_test"));
    }

    void emptyDatabase_data() { readAllMatchesTheFold_data(); }

    void emptyDatabase()
    {
        QFETCH(QString, backend);
        const QString connection = QStringLiteral("snapshots-%1").arg(++m_counter);
        SagaStore store(newDatabase(backend), connection);
        QVERIFY(store.open().ok());
        int calls = 0;
        int count = -1;
        SnapshotReader reader(connection);
        const StoreError error = reader.readAll([&](QVector<OrderProgress>) { ++calls; }, &count);
        QVERIFY2(error.ok(), qPrintable(error.message));
        QCOMPARE(reader.lastReadUsedLibpq(), backend == QLatin1String("postgres"));
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
