// SagaStore against real SQLite files and a real PostgreSQL server: migrations,
// one-transaction commits with per-order seq and global commit-ordered positions,
// lease checks, claims (SKIP LOCKED), NOTIFY, losing the connection, reads.

#include "batchplan.h"
#include "sagastore.h"
#include "sqlerror.h"
#include "orderprogress.h"
#include "storetestdatabase.h"
#include "testservices.h"

#include <QDir>
#include <QFile>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlDriver>
#include <QSqlQuery>
#include <QThread>
#include <QtTest>
#include <atomic>

class tst_SagaStore : public QObject
{
    Q_OBJECT

private:
    QString m_pgUrl;
    static DatabaseUrl newDatabase(const QString &backend) { return newStoreTestDatabase(backend, QStringLiteral("store")); }

    static QString name() { return QStringLiteral("c%1").arg(QRandomGenerator::global()->generate()); }

    // Writes the first schema (001_initial.sql of `dialect`) into `db` as an older
    // version of the program left it, recorded as version 1: the upgrade tests'
    // starting point. False (with the failing statement logged) if a statement fails.
    static bool applyFirstSchema(QSqlDatabase &db, const QString &dialect)
    {
        QFile f(QStringLiteral(":/sql/%1/001_initial.sql").arg(dialect));
        if (!f.open(QIODevice::ReadOnly))
            return false;
        QSqlQuery q(db);
        for (QString statement : QString::fromUtf8(f.readAll()).split(";\n")) {
            QStringList lines;
            for (const QString &line : statement.split('\n'))
                if (!line.trimmed().startsWith("--"))
                    lines << line;
            statement = lines.join('\n').trimmed();
            if (!statement.isEmpty() && !q.exec(statement)) {
                qWarning("%s in %s", qPrintable(q.lastError().text()), qPrintable(statement));
                return false;
            }
        }
        return q.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                      "applied_at BIGINT NOT NULL)")
            && q.exec("INSERT INTO schema_version VALUES (1, '001_initial.sql', 0)");
    }

    static StoreTransition started(const QUuid &orderId, const QString &executionId, qint64 seq = 1)
    {
        StoreTransition t;
        t.event.orderId = orderId;
        t.event.seq = seq;
        t.event.type = EventType::SagaStarted;
        t.event.timestamp = QDateTime::currentDateTimeUtc();
        t.event.details = {{"executionId", executionId}, {"attemptNumber", 1}, {"isRetry", false}};
        t.executionId = executionId;
        t.overall = OverallStatus::Queued;
        OrderRequest r;
        r.customerId = QUuid::createUuid();
        r.items = {OrderItem{"p-1", "Thing", 3, 700}};
        r.paymentMethodId = "visa";
        r.shippingAddress = ShippingAddress{"1 Main", "Town", "ST", "12345", "US"};
        t.newOrder = r;
        t.newOrderId = orderId;
        return t;
    }

    static StoreTransition stepStarted(const QUuid &orderId, const QString &executionId, qint64 seq)
    {
        StoreTransition t;
        t.event.orderId = orderId;
        t.event.seq = seq;
        t.event.type = EventType::StepStarted;
        t.event.step = SagaStep::Inventory;
        t.event.timestamp = QDateTime::currentDateTimeUtc();
        t.event.details = {{"idempotencyKey", executionId + ":inventory:reserve"}};
        t.executionId = executionId;
        t.overall = OverallStatus::InProgress;
        t.currentStep = SagaStep::Inventory;
        t.stepStatus = StepStatus::InProgress;
        return t;
    }

private Q_SLOTS:
    void initTestCase();
    void retryRecordIsOneSnapshot_data();
    void retryRecordIsOneSnapshot();
    void commitAndRead_data();
    void commitAndRead();
    void awkwardTextRoundTrips_data();
    void awkwardTextRoundTrips();
    void largeBatchesAreWholeOrNothing_data();
    void largeBatchesAreWholeOrNothing();
    void duplicateSeqIsRejectedAtomically_data();
    void duplicateSeqIsRejectedAtomically();
    void keyedOrderWrittenFirstIsLeftOut_data();
    void keyedOrderWrittenFirstIsLeftOut();
    void leaseIsChecked_data();
    void leaseIsChecked();
    void claimExpiredLeases_data();
    void claimExpiredLeases();
    void leasesAreOnTheServersClock();
    void listOrders_data();
    void listOrders();
    void concurrentCommitsAreCommitOrdered();
    void notifyInSameTransaction();
    void connectionLossIsUnavailable();
    void checkWritableSeesAHeldSqliteWriteLock();
    void sqliteReadOnlyIsUnavailable();
    void sqliteDiskFullIsUnavailable_data();
    void sqliteDiskFullIsUnavailable();
    void migratedDatabaseOpensWithoutTheCreateRight();
    void qtSqlFailuresAreReadOneWay();
    void migrationsAreIdempotent_data();
    void migrationsAreIdempotent();
    void newerSchemaIsLeftAlone_data();
    void newerSchemaIsLeftAlone();
    void upgradeFromFirstSchemaKeepsNumbering();
    void sqliteUpgradeFromFirstSchema();
    void sqliteCommitStatementsAreReleasedOnClose();
    void sqliteFreshFileOpenedByManyAtOnce();
    void sqliteFileDeletedOrReplacedWhileOpen_data();
    void sqliteFileDeletedOrReplacedWhileOpen();
    void readerNeitherCreatesNorMigrates_data();
    void readerNeitherCreatesNorMigrates();
    void recentStepDurationsComeFromTheNewestExecutions_data();
    void recentStepDurationsComeFromTheNewestExecutions();
};

void tst_SagaStore::initTestCase()
{
    QString error;
    m_pgUrl = TestServices::newPostgresDatabase(&error);
    if (m_pgUrl.isEmpty())
        QFAIL(qPrintable(QStringLiteral("PostgreSQL could not be started: ") + error));
}

static void backends()
{
    QTest::addColumn<QString>("backend");
    QTest::newRow("sqlite") << QStringLiteral("sqlite");
    QTest::newRow("postgres") << QStringLiteral("postgres");
}

void tst_SagaStore::commitAndRead_data() { backends(); }
void tst_SagaStore::commitAndRead()
{
    QFETCH(QString, backend);
    SagaStore store(newDatabase(backend), name());
    StoreError e = store.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    const QUuid a = QUuid::createUuid();
    const QUuid b = QUuid::createUuid();
    auto r = store.commitTransitions({started(a, "ex-a"), started(b, "ex-b")}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));
    QCOMPARE(r.value.size(), 2);
    QCOMPARE(r.value[0].position + 1, r.value[1].position);
    const QString numberA = r.value[0].details.value("orderNumber").toString();
    QVERIFY(numberA.startsWith("ORD-"));
    QVERIFY(numberA != r.value[1].details.value("orderNumber").toString());

    StoreTransition s = stepStarted(a, "ex-a", 2);
    StoreTransition done;
    done.event.orderId = b;
    done.event.seq = 2;
    done.event.type = EventType::StepStarted;
    done.event.step = SagaStep::Inventory;
    done.event.timestamp = QDateTime::currentDateTimeUtc();
    done.executionId = "ex-b";
    done.overall = OverallStatus::InProgress;
    done.stepStatus = StepStatus::InProgress;
    r = store.commitTransitions({s, done}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));

    StoreTransition failed;
    failed.event.orderId = b;
    failed.event.seq = 3;
    failed.event.type = EventType::StepFailed;
    failed.event.step = SagaStep::Inventory;
    failed.event.timestamp = QDateTime::currentDateTimeUtc();
    failed.event.details = {{"phase", "FORWARD"}, {"retryable", true}};
    failed.event.error = ErrorInfo{"INVENTORY_UNAVAILABLE", "out of stock 'quoted'"};
    failed.executionId = "ex-b";
    failed.overall = OverallStatus::InProgress;
    failed.stepStatus = StepStatus::Failed;
    StoreTransition end = failed;
    end.event.seq = 4;
    end.event.type = EventType::SagaFailed;
    end.event.step.reset();
    end.event.details = {{"failedStep", "Inventory Reservation"}, {"compensationIncomplete", false}};
    end.overall = OverallStatus::Failed;
    end.stepStatus.reset();
    r = store.commitTransitions({failed}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));
    r = store.commitTransitions({end}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));

    auto events = store.loadEvents(b);
    QVERIFY(events.ok());
    QCOMPARE(events.value.size(), 4);
    QCOMPARE(events.value[2].error.code, QStringLiteral("INVENTORY_UNAVAILABLE"));
    QCOMPARE(events.value[2].error.message, QStringLiteral("out of stock 'quoted'"));
    QCOMPARE(events.value[2].step, std::optional<SagaStep>(SagaStep::Inventory));
    QVERIFY(!events.value[2].details.contains("error"));
    auto after = store.loadEvents(b, 2);
    QCOMPARE(after.value.size(), 2);
    auto progress = store.loadProgress(b);
    QVERIFY(progress.ok());
    QCOMPARE(toString(progress.value.overallStatus), QStringLiteral("FAILED"));
    auto order = store.loadOrder(b);
    QVERIFY(order.ok());
    QCOMPARE(toString(order.value.status), QStringLiteral("FAILED"));
    QCOMPARE(order.value.totalInCents, 2100);
    QCOMPARE(order.value.items.size(), 1);
    auto execs = store.executions(b);
    QCOMPARE(execs.value.size(), 1);
    QCOMPARE(toString(execs.value.first().status), QStringLiteral("FAILED"));
    QVERIFY(execs.value.first().completedAt.isValid());
    // All events in commit order.
    auto all = store.loadEventsAfterPosition(0, 100);
    QCOMPARE(all.value.size(), 6);
    for (int i = 1; i < all.value.size(); ++i)
        QVERIFY(all.value[i].position > all.value[i - 1].position);
    QCOMPARE(store.lastPosition(), all.value.last().position);
    QCOMPARE(store.loadEventsAfterPosition(all.value[3].position, 100).value.size(), 2);
    auto failure = store.lastSagaFailure(b);
    QVERIFY(failure.value.has_value());
    QCOMPARE(store.loadOrder(QUuid::createUuid()).error.kind, StoreError::NotFound);
    QCOMPARE(store.loadProgress(QUuid::createUuid()).error.kind, StoreError::NotFound);
    // A terminal execution holds no lease any more: nothing to renew for b, one for a.
    QCOMPARE(store.renewLeases("me", 30000).value, 1);
}

// What a retry decision reads comes from one snapshot: a retry another engine
// commits between the reads is not half seen (the failed attempt as the newest
// execution, but its SAGA_FAILED no longer last and the new attempt's row
// counted: refused for "cooldown" or "not retryable" instead of "in progress").
void tst_SagaStore::retryRecordIsOneSnapshot_data() { backends(); }
void tst_SagaStore::retryRecordIsOneSnapshot()
{
    QFETCH(QString, backend);
    const DatabaseUrl url = newDatabase(backend);
    SagaStore store(url, name());
    StoreError e = store.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    SagaStore other(url, name()); // another engine
    QVERIFY2((e = other.open()).ok(), qPrintable(e.message));

    const QUuid order = QUuid::createUuid();
    StoreTransition end;
    end.event.orderId = order;
    end.event.seq = 2;
    end.event.type = EventType::SagaFailed;
    end.event.timestamp = QDateTime::currentDateTimeUtc();
    end.event.details = {{"failedStep", "Payment Processing"}, {"failureCode", "PAYMENT_DECLINED"}};
    end.event.error = ErrorInfo{"PAYMENT_DECLINED", "declined"};
    end.executionId = "ex-1";
    end.overall = OverallStatus::RolledBack;
    auto r = store.commitTransitions({started(order, "ex-1"), end}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));

    StoreTransition retry;
    retry.event.orderId = order;
    retry.event.seq = 3;
    retry.event.type = EventType::SagaStarted;
    retry.event.timestamp = QDateTime::currentDateTimeUtc();
    retry.event.details = {{"executionId", "ex-2"}, {"attemptNumber", 2}, {"isRetry", true}};
    retry.executionId = "ex-2";
    retry.attemptNumber = 2;
    retry.overall = OverallStatus::Queued;
    RetryRequest corrected;
    corrected.orderId = order;
    corrected.paymentMethodId = QStringLiteral("visa-2");
    retry.retry = corrected;
    retry.resumedFromStep = QStringLiteral("Inventory Reservation");
    bool committed = false;
    store.setBetweenRetryReadsForTesting([&] {
        auto c = other.commitTransitions({retry}, "other", 30000);
        committed = c.ok();
        if (!c.ok())
            qWarning("%s", qPrintable(c.error.message));
    });
    const auto before = store.retryRecord(order);
    store.setBetweenRetryReadsForTesting({});
    QVERIFY(committed);
    QVERIFY2(before.ok(), qPrintable(before.error.message));
    QCOMPARE(before.value.latest.attemptNumber, 1);
    QVERIFY(before.value.lastFailure.has_value());
    QCOMPARE(before.value.lastFailure->error.code, QStringLiteral("PAYMENT_DECLINED"));
    QCOMPARE(before.value.attempts.size(), 0);

    // Read again: the retry, whole.
    const auto after = store.retryRecord(order);
    QVERIFY2(after.ok(), qPrintable(after.error.message));
    QCOMPARE(after.value.latest.attemptNumber, 2);
    QVERIFY(!after.value.lastFailure.has_value());
    QCOMPARE(after.value.attempts.size(), 1);
    QCOMPARE(store.retryRecord(QUuid::createUuid()).error.kind, StoreError::NotFound);
}

// Text that SQL literals, JSON and QString::arg() could each mangle is stored and
// read back exactly, in the order row, its items, step results and event details.
void tst_SagaStore::awkwardTextRoundTrips_data() { backends(); }
void tst_SagaStore::awkwardTextRoundTrips()
{
    QFETCH(QString, backend);
    SagaStore store(newDatabase(backend), name());
    StoreError e = store.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    const QString awkward = QStringLiteral("O'Brien \"%1 %2 %10\" back\\slash\nnew line\ttab Zürich ✓ 😀 $$ -- ;");
    const QUuid id = QUuid::createUuid();
    StoreTransition t = started(id, "ex-awk");
    t.newOrder->shippingAddress = ShippingAddress{awkward, awkward + "city", "%3", "1%2", "US"};
    t.newOrder->items = {OrderItem{"p-%1", awkward, 1, 100}};
    t.newOrder->paymentMethodId = awkward;
    StoreTransition s = stepStarted(id, "ex-awk", 2);
    StoreTransition f = s;
    f.event.seq = 3;
    f.event.type = EventType::StepFailed;
    f.event.details = {{"phase", "FORWARD"}, {"note", awkward}};
    f.event.error = ErrorInfo{"OUT_OF_STOCK", awkward};
    f.stepStatus = StepStatus::Failed;
    auto r = store.commitTransitions({t, s, f}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));

    auto order = store.loadOrder(id);
    QVERIFY2(order.ok(), qPrintable(order.error.message));
    QCOMPARE(order.value.shippingAddress.street, awkward);
    QCOMPARE(order.value.shippingAddress.city, awkward + "city");
    QCOMPARE(order.value.shippingAddress.state, QStringLiteral("%3"));
    QCOMPARE(order.value.shippingAddress.postalCode, QStringLiteral("1%2"));
    QCOMPARE(order.value.paymentMethodId, awkward);
    QCOMPARE(order.value.items.size(), 1);
    QCOMPARE(order.value.items[0].productId, QStringLiteral("p-%1"));
    QCOMPARE(order.value.items[0].productName, awkward);

    auto events = store.loadEvents(id);
    QVERIFY2(events.ok(), qPrintable(events.error.message));
    QCOMPARE(events.value.size(), 3);
    QCOMPARE(events.value[2].error.message, awkward);
    QCOMPARE(events.value[2].details.value("note").toString(), awkward);
    QCOMPARE(events.value[0].details.value("orderNumber").toString(), r.value[0].details.value("orderNumber").toString());
}

// Batches larger than one multi-row statement (SQLite writes 64, 32, ... rows per
// statement): every row lands, or, when a row of the last statement is refused,
// none does. Half the transitions come encoded ahead, as the engine sends them.
void tst_SagaStore::largeBatchesAreWholeOrNothing_data() { backends(); }
void tst_SagaStore::largeBatchesAreWholeOrNothing()
{
    QFETCH(QString, backend);
    const QString connection = name();
    SagaStore store(newDatabase(backend), connection);
    QVERIFY(store.open().ok());
    const int sagas = 101; // 202 events: 64 + 64 + 64 + 8 + 2 rows
    QVector<QUuid> ids;
    QVector<StoreTransition> batch;
    for (int i = 0; i < sagas; ++i) {
        ids << QUuid::createUuid();
        const QString execution = QStringLiteral("ex-%1").arg(i);
        batch << started(ids[i], execution) << stepStarted(ids[i], execution, 2);
        if (i % 2 == 0) {
            BatchPlan::encode(batch[batch.size() - 2]);
            BatchPlan::encode(batch.last());
        }
    }
    auto r = store.commitTransitions(batch, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));
    QCOMPARE(r.value.size(), 2 * sagas);
    QCOMPARE(store.lastPosition(), qint64(2 * sagas));
    QSet<QString> numbers;
    for (int i = 0; i < sagas; ++i) {
        const auto events = store.loadEvents(ids[i]);
        QVERIFY2(events.ok(), qPrintable(events.error.message));
        QCOMPARE(events.value.size(), 2);
        QCOMPARE(events.value[1].details.value("idempotencyKey").toString(), QStringLiteral("ex-%1:inventory:reserve").arg(i));
        const auto order = store.loadOrder(ids[i]);
        QVERIFY2(order.ok(), qPrintable(order.error.message));
        QCOMPARE(toString(order.value.status), QStringLiteral("PROCESSING"));
        numbers.insert(order.value.orderNumber);
        QCOMPARE(events.value[0].details.value("orderNumber").toString(), order.value.orderNumber);
    }
    QCOMPARE(numbers.size(), sagas);
    {
        QSqlQuery q(QSqlDatabase::database(connection));
        QVERIFY(q.exec("SELECT count(*), count(DISTINCT execution_id) FROM saga_step_results WHERE status = 'IN_PROGRESS'"));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toInt(), sagas);
        QCOMPARE(q.value(1).toInt(), sagas);
    }

    // 150 new sagas, then a transition repeating a committed seq: its row is in the
    // batch's last statement; nothing of the batch is written.
    QVector<QUuid> refusedIds;
    QVector<StoreTransition> refused;
    for (int i = 0; i < 150; ++i) {
        refusedIds << QUuid::createUuid();
        refused << started(refusedIds[i], QStringLiteral("ex-r%1").arg(i));
    }
    refused << stepStarted(ids[0], "ex-0", 2);
    r = store.commitTransitions(refused, "me", 30000);
    QVERIFY(!r.ok());
    QCOMPARE(r.error.kind, StoreError::Conflict);
    QCOMPARE(store.lastPosition(), qint64(2 * sagas));
    for (const QUuid &id : refusedIds)
        QCOMPARE(store.loadOrder(id).error.kind, StoreError::NotFound);
}

void tst_SagaStore::duplicateSeqIsRejectedAtomically_data() { backends(); }
void tst_SagaStore::duplicateSeqIsRejectedAtomically()
{
    QFETCH(QString, backend);
    SagaStore store(newDatabase(backend), name());
    QVERIFY(store.open().ok());
    const QUuid a = QUuid::createUuid();
    QVERIFY(store.commitTransitions({started(a, "ex-a")}, "me", 30000).ok());
    QVERIFY(store.commitTransitions({stepStarted(a, "ex-a", 2)}, "me", 30000).ok());
    const qint64 position = store.lastPosition();
    // A batch where one transition repeats a committed seq writes nothing at all.
    const QUuid c = QUuid::createUuid();
    auto r = store.commitTransitions({started(c, "ex-c"), stepStarted(a, "ex-a", 2)}, "me", 30000);
    QVERIFY(!r.ok());
    QCOMPARE(r.error.kind, StoreError::Conflict);
    QCOMPARE(store.lastPosition(), position);
    QCOMPARE(store.loadOrder(c).error.kind, StoreError::NotFound);
    QCOMPARE(store.loadEvents(a).value.size(), 2);
    auto found = store.findEvent(a, 2);
    QVERIFY(found.ok() && found.value.has_value());
    QVERIFY(!store.findEvent(a, 3).value.has_value());
}

void tst_SagaStore::keyedOrderWrittenFirstIsLeftOut_data() { backends(); }
// A batch holding a new order placed with an Idempotency-Key that another
// engine wrote first is not refused: that saga's transitions are left out (their
// indexes said), the other sagas' transitions of the batch are committed, with
// positions that follow on without a gap.
void tst_SagaStore::keyedOrderWrittenFirstIsLeftOut()
{
    QFETCH(QString, backend);
    const DatabaseUrl url = newDatabase(backend);
    SagaStore first(url, name());
    SagaStore second(url, name());
    QVERIFY(first.open().ok());
    QVERIFY(second.open().ok());
    const QUuid keyed = QUuid::createUuid();
    StoreTransition written = started(keyed, "ex-first");
    written.newOrderMayExist = true;
    const auto firstCommit = first.commitTransitions({written}, "engine-1", 30000);
    QVERIFY2(firstCommit.ok(), qPrintable(firstCommit.error.message));
    const qint64 position = first.lastPosition();

    const QUuid other = QUuid::createUuid();
    StoreTransition again = started(keyed, "ex-second");
    again.newOrderMayExist = true;
    QVector<int> leftOut;
    auto r = second.commitTransitions({started(other, "ex-other"), again, stepStarted(keyed, "ex-second", 2),
                                       stepStarted(other, "ex-other", 2)},
                                      "engine-2", 30000, &leftOut);
    QVERIFY2(r.ok(), qPrintable(r.error.message));
    QCOMPARE(leftOut, (QVector<int>{1, 2}));
    QCOMPARE(r.value.size(), 2);
    QCOMPARE(r.value.at(0).orderId, other);
    QCOMPARE(r.value.at(0).position, position + 1);
    QCOMPARE(r.value.at(1).position, position + 2);
    QCOMPARE(second.lastPosition(), position + 2);
    QCOMPARE(second.loadEvents(other).value.size(), 2);
    const auto keyedEvents = second.loadEvents(keyed).value;
    QCOMPARE(keyedEvents.size(), 1); // the first engine's only
    QCOMPARE(keyedEvents.first().details.value("executionId").toString(), QStringLiteral("ex-first"));
    QCOMPARE(second.executions(keyed).value.size(), 1);

    // A batch of nothing but such an order writes nothing and is not refused.
    leftOut.clear();
    auto alone = second.commitTransitions({again}, "engine-2", 30000, &leftOut);
    QVERIFY2(alone.ok(), qPrintable(alone.error.message));
    QCOMPARE(leftOut, QVector<int>{0});
    QVERIFY(alone.value.isEmpty());
    QCOMPARE(second.lastPosition(), position + 2);
}

void tst_SagaStore::leaseIsChecked_data() { backends(); }
void tst_SagaStore::leaseIsChecked()
{
    QFETCH(QString, backend);
    SagaStore store(newDatabase(backend), name());
    QVERIFY(store.open().ok());
    const QUuid a = QUuid::createUuid();
    QVERIFY(store.commitTransitions({started(a, "ex-a")}, "engine-1", 30000).ok());
    auto r = store.commitTransitions({stepStarted(a, "ex-a", 2)}, "engine-2", 30000);
    QCOMPARE(r.error.kind, StoreError::Conflict);
    QCOMPARE(store.loadEvents(a).value.size(), 1);
    QVERIFY(store.commitTransitions({stepStarted(a, "ex-a", 2)}, "engine-1", 30000).ok());
}

void tst_SagaStore::claimExpiredLeases_data() { backends(); }
void tst_SagaStore::claimExpiredLeases()
{
    QFETCH(QString, backend);
    const DatabaseUrl url = newDatabase(backend);
    SagaStore store(url, name());
    QVERIFY(store.open().ok());
    const QUuid a = QUuid::createUuid();
    const QUuid b = QUuid::createUuid();
    QVERIFY(store.commitTransitions({started(a, "ex-a")}, "crashed", 1).ok()); // expires at once
    QVERIFY(store.commitTransitions({started(b, "ex-b")}, "alive", 60000).ok());
    QTest::qWait(20);
    auto claimed = store.claimSagas("engine-2", 30000, 10);
    QVERIFY2(claimed.ok(), qPrintable(claimed.error.message));
    QCOMPARE(claimed.value.size(), 1);
    QCOMPARE(claimed.value.first().executionId, QStringLiteral("ex-a"));
    QCOMPARE(claimed.value.first().orderId, a);
    // Claimed now: nobody else gets it; the new owner can commit, the old one cannot.
    QCOMPARE(store.claimSagas("engine-3", 30000, 10).value.size(), 0);
    QCOMPARE(store.commitTransitions({stepStarted(a, "ex-a", 2)}, "crashed", 30000).error.kind, StoreError::Conflict);
    QVERIFY(store.commitTransitions({stepStarted(a, "ex-a", 2)}, "engine-2", 30000).ok());
    // includeOwn takes back one's own unexpired leases (restart with the same id).
    QCOMPARE(store.claimSagas("alive", 30000, 10, true).value.size(), 1);
    QVERIFY(store.releaseLeases("alive").ok());
    QCOMPARE(store.claimSagas("engine-4", 30000, 10).value.size(), 1);
}

// PostgreSQL: engines on other hosts share the database, not a clock. A lease
// is dated and judged by the server's clock, so a store whose own clock is a
// minute ahead (or behind) neither takes valid leases nor writes leases that are
// already out (or last a minute too long). (SQLite: one host, its clock.)
void tst_SagaStore::leasesAreOnTheServersClock()
{
    const DatabaseUrl url = newDatabase(QStringLiteral("postgres"));
    SagaStore honest(url, name());
    SagaStore ahead(url, name());
    SagaStore behind(url, name());
    ahead.setClockSkewForTesting(60000);
    behind.setClockSkewForTesting(-60000);
    QVERIFY(honest.open().ok() && ahead.open().ok() && behind.open().ok());
    const QUuid a = QUuid::createUuid();
    const QUuid b = QUuid::createUuid();
    const QUuid c = QUuid::createUuid();

    // A valid lease (30 s left) is not expired to an engine whose clock is ahead.
    QVERIFY(honest.commitTransitions({started(a, "ex-a")}, "honest", 30000).ok());
    auto claimed = ahead.claimSagas("ahead", 30000, 10);
    QVERIFY2(claimed.ok(), qPrintable(claimed.error.message));
    QCOMPARE(claimed.value.size(), 0);
    QVERIFY(honest.commitTransitions({stepStarted(a, "ex-a", 2)}, "honest", 30000).ok());

    // An engine whose clock is behind writes leases that run for 30 s: from its
    // commit, from a claim and from a renewal.
    QVERIFY(behind.commitTransitions({started(b, "ex-b")}, "behind", 30000).ok());
    QCOMPARE(honest.claimSagas("other", 30000, 10).value.size(), 0);
    QCOMPARE(behind.renewLeases("behind", 30000).value, 1);
    QCOMPARE(honest.claimSagas("other", 30000, 10).value.size(), 0);
    QVERIFY(behind.releaseLeases("behind").ok());
    QCOMPARE(behind.claimSagas("behind", 30000, 10).value.size(), 1);
    QCOMPARE(honest.claimSagas("other", 30000, 10).value.size(), 0);

    // The lease of an engine whose clock is ahead runs out when its time is up,
    // not a minute later.
    QVERIFY(ahead.commitTransitions({started(c, "ex-c")}, "ahead", 1).ok());
    QTest::qWait(20);
    claimed = honest.claimSagas("other", 30000, 10);
    QVERIFY2(claimed.ok(), qPrintable(claimed.error.message));
    QCOMPARE(claimed.value.size(), 1);
    QCOMPARE(claimed.value.first().executionId, QStringLiteral("ex-c"));
    QCOMPARE(ahead.renewLeases("ahead", 30000).value, 0);
}

void tst_SagaStore::listOrders_data() { backends(); }
void tst_SagaStore::listOrders()
{
    QFETCH(QString, backend);
    SagaStore store(newDatabase(backend), name());
    QVERIFY(store.open().ok());
    QVector<QUuid> ids;
    QUuid customer;
    for (int i = 0; i < 5; ++i) {
        const QUuid id = QUuid::createUuid();
        StoreTransition t = started(id, QStringLiteral("ex-%1").arg(i));
        t.event.timestamp = QDateTime::currentDateTimeUtc().addSecs(i);
        if (i == 0)
            customer = t.newOrder->customerId;
        QVERIFY(store.commitTransitions({t}, "me", 30000).ok());
        ids << id;
    }
    OrderListFilter f;
    f.limit = 2;
    auto page = store.listOrders(f);
    QVERIFY2(page.ok(), qPrintable(page.error.message));
    QCOMPARE(page.value.orders.size(), 2);
    QCOMPARE(page.value.orders[0].orderId, ids[4]); // newest first
    QVERIFY(!page.value.nextCursor.isEmpty());
    QVERIFY(OrderListFilter::isCursor(page.value.nextCursor));
    for (const QString &bad : {QStringLiteral("x"), QStringLiteral("12_"), QStringLiteral("_") + ids[0].toString(QUuid::WithoutBraces),
                               QStringLiteral("-5_") + ids[0].toString(QUuid::WithoutBraces), page.value.nextCursor + QLatin1Char('0')}) {
        OrderListFilter wrong = f;
        wrong.after = bad;
        QVERIFY2(!OrderListFilter::isCursor(bad), qPrintable(bad));
        QCOMPARE(int(store.listOrders(wrong).error.kind), int(StoreError::Invalid));
    }
    f.after = page.value.nextCursor;
    page = store.listOrders(f);
    QCOMPARE(page.value.orders[0].orderId, ids[2]);
    f.after = page.value.nextCursor;
    page = store.listOrders(f);
    QCOMPARE(page.value.orders.size(), 1);
    QVERIFY(page.value.nextCursor.isEmpty());
    OrderListFilter q;
    q.query = ids[3].toString(QUuid::WithoutBraces).left(8);
    QCOMPARE(store.listOrders(q).value.orders.size(), 1);
    q.query = QStringLiteral("%'; DROP TABLE orders; --");
    auto injected = store.listOrders(q);
    QVERIFY(injected.ok());
    QCOMPARE(injected.value.orders.size(), 0);
    OrderListFilter st;
    st.status = OverallStatus::Queued;
    QCOMPARE(store.listOrders(st).value.orders.size(), 5);
    st.status = OverallStatus::Completed;
    QCOMPARE(store.listOrders(st).value.orders.size(), 0);
    QCOMPARE(store.ordersForCustomer(customer).value.size(), 1);
    // A search text or cursor that looks like a QString::arg() placeholder ("%1" once
    // the LIKE pattern is built) is matched literally (it used to be substituted,
    // so an id prefix starting with 1 found nothing).
    const QUuid oneId(QStringLiteral("1a2b3c4d-0000-4000-8000-000000000001"));
    QVERIFY(store.commitTransitions({started(oneId, "ex-one")}, "me", 30000).ok());
    q.query = QStringLiteral("1a2b3c4d");
    auto found = store.listOrders(q);
    QVERIFY2(found.ok(), qPrintable(found.error.message));
    QCOMPARE(found.value.orders.size(), 1);
    QCOMPARE(found.value.orders[0].orderId, oneId);
    // A forged cursor (placeholders, a quote) is refused, not run; the orders are all there.
    OrderListFilter odd;
    odd.after = QStringLiteral("99999999999999_%1%2'");
    QCOMPARE(int(store.listOrders(odd).error.kind), int(StoreError::Invalid));
    auto all = store.listOrders(OrderListFilter());
    QVERIFY2(all.ok(), qPrintable(all.error.message));
    QCOMPARE(all.value.orders.size(), 6);
}

void tst_SagaStore::concurrentCommitsAreCommitOrdered()
{
    // Two engines (threads, own connections) commit concurrently on one PostgreSQL
    // database: positions are unique, gap-free and every reader sees them in order.
    const DatabaseUrl url = newDatabase("postgres");
    {
        SagaStore init(url, name());
        QVERIFY(init.open().ok());
    }
    std::atomic<int> failures{0};
    auto worker = [&](const QString &owner) {
        SagaStore store(url, name());
        if (!store.open().ok()) {
            ++failures;
            return;
        }
        for (int i = 0; i < 50; ++i) {
            QVector<StoreTransition> batch;
            for (int k = 0; k < 4; ++k)
                batch << started(QUuid::createUuid(), QUuid::createUuid().toString());
            if (!store.commitTransitions(batch, owner, 30000).ok())
                ++failures;
        }
    };
    std::unique_ptr<QThread> t1(QThread::create(worker, QStringLiteral("e1")));
    std::unique_ptr<QThread> t2(QThread::create(worker, QStringLiteral("e2")));
    t1->start();
    t2->start();
    QVERIFY(t1->wait(120000));
    QVERIFY(t2->wait(120000));
    QCOMPARE(failures.load(), 0);
    SagaStore reader(url, name());
    QVERIFY(reader.open().ok());
    auto all = reader.loadEventsAfterPosition(0, 10000);
    QCOMPARE(all.value.size(), 400);
    for (int i = 0; i < all.value.size(); ++i)
        QCOMPARE(all.value[i].position, qint64(i + 1));
}

void tst_SagaStore::notifyInSameTransaction()
{
    const DatabaseUrl url = newDatabase("postgres");
    SagaStore store(url, name());
    QVERIFY(store.open().ok());
    const QString listenerName = name();
    QSqlDatabase listener = url.addConnection(listenerName);
    QVERIFY(listener.open());
    QStringList payloads;
    connect(listener.driver(), &QSqlDriver::notification, this,
            [&](const QString &, QSqlDriver::NotificationSource, const QVariant &payload) {
                payloads << payload.toString();
            });
    QVERIFY(listener.driver()->subscribeToNotification("saga_events"));
    const QUuid a = QUuid::createUuid();
    QVERIFY(store.commitTransitions({started(a, "ex-a")}, "me", 30000).ok());
    QVERIFY(store.commitTransitions({stepStarted(a, "ex-a", 2)}, "me", 30000).ok());
    // A failed batch notifies nothing.
    QVERIFY(!store.commitTransitions({stepStarted(a, "ex-a", 2)}, "me", 30000).ok());
    const QString id = a.toString(QUuid::WithoutBraces);
    QTRY_COMPARE_WITH_TIMEOUT(payloads, QStringList({id + ":1", id + ":2"}), 10000);
    QTest::qWait(300);
    QCOMPARE(payloads.size(), 2);
    listener.close();
    listener = QSqlDatabase();
    QSqlDatabase::removeDatabase(listenerName);
}

// sqlFailure(): the reading of a failed QtSql call shared by the store's writes and
// every reader, on real servers: a refusal is Invalid and named without the SQL a
// CONTEXT line quotes; "not now" (a statement timeout) is Unavailable; SQLite's
// "cannot open" (the file's folder gone) is Unavailable; a duplicate key a Conflict.
void tst_SagaStore::qtSqlFailuresAreReadOneWay()
{
    const QString pgName = name();
    {
        QSqlDatabase db = newDatabase("postgres").addConnection(pgName);
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QSqlQuery q(db);
        QVERIFY(!q.exec(QStringLiteral("DO $body$ BEGIN RAISE EXCEPTION 'refused here' USING DETAIL = 'the detail', "
                                       "ERRCODE = '22023'; END $body$")));
        QVERIFY2(q.lastError().text().contains(QLatin1String("CONTEXT")), qPrintable(q.lastError().text()));
        StoreError e = sqlFailure(db, q.lastError(), QStringLiteral("write x"));
        QCOMPARE(int(e.kind), int(StoreError::Invalid));
        QVERIFY2(e.message.startsWith(QLatin1String("write x: ")), qPrintable(e.message));
        QVERIFY2(e.message.contains(QLatin1String("refused here")), qPrintable(e.message));
        QVERIFY2(e.message.contains(QLatin1String("the detail")), qPrintable(e.message));
        QVERIFY2(e.message.contains(QLatin1String("22023")), qPrintable(e.message));
        QVERIFY2(!e.message.contains(QLatin1String("CONTEXT")) && !e.message.contains(QLatin1String("PL/pgSQL"))
                     && !e.message.contains(QLatin1Char('\n')),
                 qPrintable(e.message));

        QVERIFY(!q.exec(QStringLiteral("SELECT 1 FROM no_such_table")));
        e = sqlFailure(db, q.lastError(), QStringLiteral("read y"));
        QCOMPARE(int(e.kind), int(StoreError::Invalid));
        QVERIFY2(e.message.contains(QLatin1String("no_such_table")) && !e.message.contains(QLatin1String("LINE 1"))
                     && !e.message.contains(QLatin1Char('^')),
                 qPrintable(e.message));

        QVERIFY(q.exec(QStringLiteral("SET statement_timeout = 50")));
        QVERIFY(!q.exec(QStringLiteral("SELECT pg_sleep(5)")));
        QCOMPARE(q.lastError().nativeErrorCode(), QStringLiteral("57014"));
        QCOMPARE(int(sqlFailure(db, q.lastError(), QStringLiteral("read z")).kind), int(StoreError::Unavailable));
        QVERIFY(q.exec(QStringLiteral("RESET statement_timeout")));

        QVERIFY(q.exec(QStringLiteral("CREATE TEMP TABLE k (id int PRIMARY KEY)")));
        QVERIFY(q.exec(QStringLiteral("INSERT INTO k VALUES (1)")));
        QVERIFY(!q.exec(QStringLiteral("INSERT INTO k VALUES (1)")));
        QCOMPARE(int(sqlFailure(db, q.lastError(), QStringLiteral("w")).kind), int(StoreError::Conflict));
    }
    QSqlDatabase::removeDatabase(pgName);

    const QString liteName = name();
    {
        DatabaseUrl url;
        url.kind = DatabaseUrl::Kind::Sqlite;
        url.path = TestServices::tempDir() + QStringLiteral("/no-such-folder/x.sqlite");
        QSqlDatabase db = url.addConnection(liteName);
        QVERIFY(!db.open());
        const StoreError e = sqlFailure(db, db.lastError(), QStringLiteral("open"));
        QCOMPARE(int(e.kind), int(StoreError::Unavailable));
        QVERIFY2(e.message.startsWith(QLatin1String("open: ")), qPrintable(e.message));
    }
    QSqlDatabase::removeDatabase(liteName);
}

// Another process holds SQLite's write lock: reads work, writes do not. A write
// that changes nothing tells (after a short wait), so the engine does not take the
// file for writable again while the lock is held.
void tst_SagaStore::checkWritableSeesAHeldSqliteWriteLock()
{
    const DatabaseUrl url = newDatabase("sqlite");
    SagaStore store(url, name());
    QVERIFY(store.open().ok());
    QCOMPARE(store.checkWritable().kind, StoreError::None);
    const QString holder = name();
    {
        QSqlDatabase db = url.addConnection(holder);
        QVERIFY(db.open());
        QSqlQuery q(db);
        QVERIFY(q.exec(QStringLiteral("BEGIN IMMEDIATE")));
        const StoreError e = store.checkWritable(100);
        QCOMPARE(e.kind, StoreError::Unavailable);
        QCOMPARE(e.outage, StoreError::Outage::Locked);
        // A batch waits for the lock as long as the busy timeout, then is refused the same way.
        const auto r = store.commitTransitions({started(QUuid::createUuid(), "ex-locked")}, "me", 30000);
        QCOMPARE(r.error.kind, StoreError::Unavailable);
        QCOMPARE(r.error.outage, StoreError::Outage::Locked);
        QVERIFY(r.error.notWritten);
        QCOMPARE(store.lastPosition(), qint64(0)); // reading still works
        QVERIFY(q.exec(QStringLiteral("ROLLBACK")));
    }
    QSqlDatabase::removeDatabase(holder);
    QCOMPARE(store.checkWritable().kind, StoreError::None);
}

// A SQLite connection that may not write (the file became read-only; here the
// connection's query_only switch, which answers SQLITE_READONLY the same way) is
// "not now", like a read-only PostgreSQL standby: the engine pauses and retries
// instead of failing the sagas whose transitions were refused (it was Invalid,
// which the engine takes for a refusal of what was written: STORE_REFUSED).
void tst_SagaStore::sqliteReadOnlyIsUnavailable()
{
    const DatabaseUrl url = newDatabase("sqlite");
    const QString connection = name();
    SagaStore store(url, connection);
    QVERIFY(store.open().ok());
    QSqlQuery q(QSqlDatabase::database(connection, false));
    QVERIFY2(q.exec(QStringLiteral("PRAGMA query_only = ON")), qPrintable(q.lastError().text()));
    const QUuid a = QUuid::createUuid();
    const auto r = store.commitTransitions({started(a, "ex-ro")}, "me", 30000);
    QCOMPARE(r.error.kind, StoreError::Unavailable);
    QCOMPARE(r.error.outage, StoreError::Outage::ReadOnly);
    QVERIFY2(r.error.notWritten, qPrintable(r.error.message));
    const StoreError check = store.checkWritable();
    QCOMPARE(check.kind, StoreError::Unavailable);
    QCOMPARE(check.outage, StoreError::Outage::ReadOnly);
    QVERIFY2(q.exec(QStringLiteral("PRAGMA query_only = OFF")), qPrintable(q.lastError().text()));
    q.finish();
    QCOMPARE(store.checkWritable().kind, StoreError::None);
    const auto again = store.commitTransitions({started(a, "ex-ro")}, "me", 30000);
    QVERIFY2(again.ok(), qPrintable(again.error.message));
    QCOMPARE(store.loadEvents(a).value.size(), 1);
}

// A real full disk under a SQLite file (a filesystem of its own, too small, then
// more): opening a new file says DISK_FULL, whether there was no room for the WAL
// index (SQLite says "disk I/O error") or for the migrations' commit (nothing is
// logged as migrated then: the statements ran, the commit was refused); with room
// it opens. Commits that fill
// the disk again are "not now", known not written, and refused again while it
// is full; once space is freed the same batch commits, recorded once.
void tst_SagaStore::sqliteDiskFullIsUnavailable_data()
{
    QTest::addColumn<int>("bytes");
    QTest::newRow("no room for the WAL index") << (32 << 10);
    QTest::newRow("no room for the migrations") << (64 << 10);
}

void tst_SagaStore::sqliteDiskFullIsUnavailable()
{
    QFETCH(int, bytes);
    TestServices::SmallDisk disk(bytes);
    QVERIFY2(disk.isMounted(), qPrintable(disk.error()));
    DatabaseUrl url;
    url.kind = DatabaseUrl::Kind::Sqlite;
    url.path = disk.path() + QStringLiteral("/saga.sqlite");

    static QStringList migrationsLogged;
    migrationsLogged.clear();
    const QtMessageHandler previous = qInstallMessageHandler([](QtMsgType, const QMessageLogContext &, const QString &m) {
        if (m.contains(QLatin1String("applied migration")))
            migrationsLogged << m;
    });
    auto restoreHandler = qScopeGuard([previous] { qInstallMessageHandler(previous); });
    {
        SagaStore full(url, name());
        const StoreError e = full.open();
        QCOMPARE(e.kind, StoreError::Unavailable);
        QVERIFY2(e.outage == StoreError::Outage::DiskFull, qPrintable(outageCode(e.outage) + QStringLiteral(": ") + e.message));
    }
    QCOMPARE(migrationsLogged, QStringList());

    QString error;
    QVERIFY2(disk.resize(4 << 20, &error), qPrintable(error));
    SagaStore store(url, name());
    const StoreError opened = store.open();
    QVERIFY2(opened.ok(), qPrintable(opened.message));
    qInstallMessageHandler(previous);
    restoreHandler.dismiss();
    // Each migration logged once, after its commit.
    QCOMPARE(migrationsLogged.size(),
             QDir(QStringLiteral(":/sql/sqlite")).entryList({QStringLiteral("*.sql")}, QDir::Files).size());

    auto batchOf = [](int n) {
        QVector<StoreTransition> batch;
        for (int i = 0; i < n; ++i)
            batch << started(QUuid::createUuid(), QUuid::createUuid().toString(QUuid::WithoutBraces));
        return batch;
    };
    int committed = 0;
    QVector<StoreTransition> refusedBatch;
    StoreError refused;
    for (int round = 0; round < 2000 && refusedBatch.isEmpty(); ++round) {
        const QVector<StoreTransition> batch = batchOf(50);
        const auto r = store.commitTransitions(batch, "me", 30000);
        if (r.ok()) {
            committed += batch.size();
        } else {
            refusedBatch = batch;
            refused = r.error;
        }
    }
    QVERIFY2(!refusedBatch.isEmpty(), qPrintable(QStringLiteral("%1 bytes still free").arg(disk.freeBytes())));
    QVERIFY2(refused.kind == StoreError::Unavailable && refused.outage == StoreError::Outage::DiskFull,
             qPrintable(QStringLiteral("kind %1, %2: %3").arg(refused.kind).arg(outageCode(refused.outage), refused.message)));
    QVERIFY2(refused.notWritten, qPrintable(refused.message));
    QVERIFY(store.loadEvents(refusedBatch.first().event.orderId).value.isEmpty());
    // Still full: refused again the same way. (A write of a page or two may still
    // fit, into the WAL's room the refused batch had taken: checkWritable's probe
    // can pass; the engine says the database is back only once a commit went in.)
    const auto stillFull = store.commitTransitions(refusedBatch, "me", 30000);
    QCOMPARE(stillFull.error.kind, StoreError::Unavailable);
    QCOMPARE(stillFull.error.outage, StoreError::Outage::DiskFull);
    QVERIFY(stillFull.error.notWritten);

    QVERIFY2(disk.resize(32 << 20, &error), qPrintable(error));
    QCOMPARE(store.checkWritable().kind, StoreError::None);
    const auto again = store.commitTransitions(refusedBatch, "me", 30000);
    QVERIFY2(again.ok(), qPrintable(again.error.message));
    QCOMPARE(store.loadEvents(refusedBatch.first().event.orderId).value.size(), 1);
    const auto all = store.loadEventsAfterPosition(0, 1000000);
    QVERIFY2(all.ok(), qPrintable(all.error.message));
    QCOMPARE(all.value.size(), committed + refusedBatch.size());
}

// An engine's role on a database someone else migrated: it may read and write the
// tables but not create any (PostgreSQL 15 gives PUBLIC no CREATE on schema public).
// Nothing is pending, so nothing needs creating: it opens and commits.
void tst_SagaStore::migratedDatabaseOpensWithoutTheCreateRight()
{
    const DatabaseUrl url = newDatabase("postgres");
    {
        SagaStore owner(url, name());
        QVERIFY(owner.open().ok());
    }
    const QString role = QStringLiteral("engine_%1").arg(url.database);
    QString error;
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("DROP ROLE IF EXISTS %1").arg(role), &error), qPrintable(error));
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("CREATE ROLE %1 LOGIN").arg(role), &error), qPrintable(error));
    const QString conn = name();
    {
        QSqlDatabase db = url.addConnection(conn);
        QVERIFY(db.open());
        QSqlQuery q(db);
        for (const QString &sql : {QStringLiteral("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
                                   QStringLiteral("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %1").arg(role),
                                   QStringLiteral("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %1").arg(role)})
            QVERIFY2(q.exec(sql), qPrintable(q.lastError().text()));
    }
    QSqlDatabase::removeDatabase(conn);
    DatabaseUrl asEngine = url;
    asEngine.user = role;
    SagaStore store(asEngine, name());
    const StoreError opened = store.open();
    QVERIFY2(opened.ok(), qPrintable(opened.message));
    const QUuid a = QUuid::createUuid();
    const auto r = store.commitTransitions({started(a, "ex-role")}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));
}

void tst_SagaStore::connectionLossIsUnavailable()
{
    const DatabaseUrl url = newDatabase("postgres");
    SagaStore store(url, name());
    QVERIFY(store.open().ok());
    const QUuid a = QUuid::createUuid();
    QVERIFY(store.commitTransitions({started(a, "ex-a")}, "me", 30000).ok());
    QString error;
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                                        "WHERE datname = '%1' AND pid <> pg_backend_pid()")
                                             .arg(url.database),
                                         &error),
             qPrintable(error));
    QTest::qWait(200); // the server's goodbye reaches this end
    auto r = store.commitTransitions({stepStarted(a, "ex-a", 2)}, "me", 30000);
    QCOMPARE(r.error.kind, StoreError::Unavailable);
    QCOMPARE(r.error.outage, StoreError::Outage::Unreachable);
    // The connection was seen closed before anything was sent: known not written
    // (the engine answers at once instead of waiting for the database to tell).
    QVERIFY2(r.error.notWritten, qPrintable(r.error.message));
    QVERIFY(store.isConnectionBroken());
    QCOMPARE(store.loadEvents(a).error.kind == StoreError::Unavailable || store.loadEvents(a).ok(), true);
    QVERIFY(store.reconnect().ok());
    QCOMPARE(store.loadEvents(a).value.size(), 1);
    QVERIFY(store.commitTransitions({stepStarted(a, "ex-a", 2)}, "me", 30000).ok());
    // "Not now" answered with an ERROR (a full disk, here raised by a trigger): the
    // batch's transaction was rolled back, known not written; a write that changes
    // nothing is refused the same way (checkWritable).
    {
        const QString conn = name();
        {
            QSqlDatabase db = url.addConnection(conn);
            QVERIFY(db.open());
            QSqlQuery q(db);
            QVERIFY(q.exec(QStringLiteral("CREATE FUNCTION full_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                          "RAISE EXCEPTION 'disk full (test)' USING ERRCODE = '53100'; END $$")));
            QVERIFY(q.exec(QStringLiteral("CREATE TRIGGER full_for_test BEFORE INSERT OR UPDATE ON order_events "
                                          "FOR EACH ROW EXECUTE FUNCTION full_for_test()")));
            QVERIFY(q.exec(QStringLiteral("CREATE TRIGGER full_for_test BEFORE UPDATE ON saga_counters "
                                          "FOR EACH ROW EXECUTE FUNCTION full_for_test()")));
        }
        QSqlDatabase::removeDatabase(conn);
    }
    r = store.commitTransitions({stepStarted(a, "ex-a", 3)}, "me", 30000);
    QCOMPARE(r.error.kind, StoreError::Unavailable);
    QCOMPARE(r.error.outage, StoreError::Outage::DiskFull);
    QVERIFY2(r.error.notWritten, qPrintable(r.error.message));
    QVERIFY(!store.isConnectionBroken());
    const StoreError check = store.checkWritable();
    QCOMPARE(check.kind, StoreError::Unavailable);
    QCOMPARE(check.outage, StoreError::Outage::DiskFull);
    // An unreachable server is Unavailable too.
    DatabaseUrl nowhere = url;
    nowhere.port = 1;
    SagaStore down(nowhere, name());
    const StoreError refused = down.open();
    QCOMPARE(refused.kind, StoreError::Unavailable);
    QCOMPARE(refused.outage, StoreError::Outage::Unreachable);
}

void tst_SagaStore::migrationsAreIdempotent_data() { backends(); }
void tst_SagaStore::migrationsAreIdempotent()
{
    QFETCH(QString, backend);
    const DatabaseUrl url = newDatabase(backend);
    {
        SagaStore a(url, name());
        QVERIFY(a.open().ok());
        QVERIFY(a.commitTransitions({started(QUuid::createUuid(), "x")}, "me", 1000).ok());
    }
    SagaStore b(url, name());
    StoreError e = b.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    QCOMPARE(b.loadEventsAfterPosition(0, 10).value.size(), 1);
}

// A database that a newer program has migrated further is refused as it is: the
// open fails with both versions named, and nothing is written to it.
void tst_SagaStore::newerSchemaIsLeftAlone_data() { backends(); }
void tst_SagaStore::newerSchemaIsLeftAlone()
{
    QFETCH(QString, backend);
    const DatabaseUrl url = newDatabase(backend);
    {
        SagaStore a(url, name());
        QVERIFY(a.open().ok());
        QVERIFY(a.commitTransitions({started(QUuid::createUuid(), "x")}, "me", 1000).ok());
    }
    const QString conn = name();
    QSqlDatabase db = url.addConnection(conn);
    QVERIFY2(db.open(), qPrintable(db.lastError().text()));
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("INSERT INTO schema_version (version, name, applied_at) "
                                  "VALUES (999, '999_from_the_future.sql', 0)")));

    {
        SagaStore b(url, name());
        const StoreError e = b.open();
        QCOMPARE(int(e.kind), int(StoreError::Invalid));
        QVERIFY2(e.message.contains(QStringLiteral("schema is version 999, newer than this program's")),
                 qPrintable(e.message));
    }
    // Nothing was changed or added.
    QVERIFY(q.exec(QStringLiteral("SELECT MAX(version), COUNT(*) FROM schema_version")));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toInt(), 999);
    const int versions = q.value(1).toInt();
    QVERIFY(q.exec(QStringLiteral("SELECT COUNT(*) FROM order_events")));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toInt(), 1);
    QVERIFY(q.exec(QStringLiteral("SELECT COUNT(*) FROM schema_version WHERE version < 999")));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toInt(), versions - 1);
    q.finish();
    db.close();
}

// A PostgreSQL database created by the first schema only (orders numbered by the
// counter) upgrades to the current one: order numbers continue after the last
// one, and the commit path works on the upgraded tables.
void tst_SagaStore::upgradeFromFirstSchemaKeepsNumbering()
{
    const DatabaseUrl url = newDatabase(QStringLiteral("postgres"));
    const QString conn = name();
    {
        QSqlDatabase db = url.addConnection(conn);
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QVERIFY(applyFirstSchema(db, "postgres"));
        QSqlQuery q(db);
        QVERIFY(q.exec("UPDATE saga_counters SET last_order_number = 41"));
        db.close();
    }
    QSqlDatabase::removeDatabase(conn);

    SagaStore store(url, name());
    StoreError e = store.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    const QUuid a = QUuid::createUuid();
    const QUuid b = QUuid::createUuid();
    auto r = store.commitTransitions({started(a, "ex-a"), started(b, "ex-b"), stepStarted(a, "ex-a", 2)}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));
    const QString numberA = r.value[0].details.value("orderNumber").toString();
    const QString numberB = r.value[1].details.value("orderNumber").toString();
    QVERIFY2(numberA.endsWith("-000042"), qPrintable(numberA));
    QVERIFY2(numberB.endsWith("-000043"), qPrintable(numberB));
    QVERIFY(!r.value[2].details.contains("orderNumber"));
    QCOMPARE(store.loadOrder(a).value.orderNumber, numberA);
    auto stored = store.loadEvents(b);
    QVERIFY(stored.ok());
    QCOMPARE(stored.value.first().details.value("orderNumber").toString(), numberB);
}

// A SQLite file written by the first schema (an older console's data folder) is
// migrated in place: the lease index replaces the status index (002), and an
// execution left running by a crashed engine is still claimed through it.
// (Dropping an index failed with "database table is locked" while the migration's
// version query was still open.)
void tst_SagaStore::sqliteUpgradeFromFirstSchema()
{
    const DatabaseUrl url = newDatabase("sqlite");
    const QString conn = name();
    const QUuid crashed = QUuid::createUuid();
    {
        QSqlDatabase db = url.addConnection(conn);
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QVERIFY(applyFirstSchema(db, "sqlite"));
        QSqlQuery q(db);
        const QString id = crashed.toString(QUuid::WithoutBraces);
        QVERIFY2(q.exec(QStringLiteral("INSERT INTO orders (id, order_number, customer_id, status, overall_status, "
                                       "payment_method_id, ship_street, ship_city, ship_state, ship_postal_code, "
                                       "ship_country, total_in_cents, created_at, updated_at) VALUES ('%1', "
                                       "'ORD-20261201-000001', '%1', 'IN_PROGRESS', 'IN_PROGRESS', 'visa', '1 Main', "
                                       "'Town', 'ST', '12345', 'US', 700, 1, 1)")
                            .arg(id)),
                 qPrintable(q.lastError().text()));
        QVERIFY2(q.exec(QStringLiteral("INSERT INTO saga_executions (execution_id, order_id, attempt, status, "
                                       "current_step, started_at, updated_at, lease_owner, lease_expires_at) "
                                       "VALUES ('ex-old', '%1', 1, 'IN_PROGRESS', 'Inventory Reservation', 1, 1, "
                                       "'crashed-engine', 2)")
                            .arg(id)),
                 qPrintable(q.lastError().text()));
        // Its first two events and the step result in flight, as that version wrote them.
        QVERIFY2(q.exec(QStringLiteral("INSERT INTO order_events (order_id, seq, position, event_type, step_name, "
                                       "details, created_at) VALUES ('%1', 1, 1, 'SAGA_STARTED', NULL, "
                                       "'{\"executionId\":\"ex-old\"}', 1), ('%1', 2, 2, 'STEP_STARTED', "
                                       "'Inventory Reservation', '{\"idempotencyKey\":\"ex-old:inventory:reserve\"}', 1)")
                            .arg(id)),
                 qPrintable(q.lastError().text()));
        QVERIFY2(q.exec("INSERT INTO saga_step_results (execution_id, step_name, status, started_at) "
                        "VALUES ('ex-old', 'Inventory Reservation', 'IN_PROGRESS', 1)"),
                 qPrintable(q.lastError().text()));
        QVERIFY(q.exec("UPDATE saga_counters SET last_position = 2, last_order_number = 1"));
        db.close();
    }
    QSqlDatabase::removeDatabase(conn);

    SagaStore store(url, name());
    StoreError e = store.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    {
        QSqlDatabase db = url.addConnection(conn);
        QVERIFY(db.open());
        QSqlQuery q(db);
        QVERIFY(q.exec("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'saga_executions' "
                       "AND name LIKE 'saga_executions_%_idx' ORDER BY name"));
        QStringList indexes;
        while (q.next())
            indexes << q.value(0).toString();
        QCOMPARE(indexes, QStringList{"saga_executions_lease_idx"});
        QVERIFY(q.exec("SELECT MAX(version) FROM schema_version"));
        QVERIFY(q.next());
        QVERIFY(q.value(0).toInt() >= 3);
        // 003: order_events keyed by position (no index of its own any more),
        // saga_step_results by its primary key; the rows came along.
        QVERIFY(q.exec("SELECT name FROM pragma_table_info('order_events') WHERE pk = 1"));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toString(), QStringLiteral("position"));
        QVERIFY(q.exec("SELECT count(*) FROM pragma_index_list('order_events')"));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toInt(), 1); // UNIQUE (order_id, seq)
        QVERIFY(q.exec("SELECT sql FROM sqlite_master WHERE name = 'saga_step_results'"));
        QVERIFY(q.next());
        QVERIFY(q.value(0).toString().contains("WITHOUT ROWID"));
        QVERIFY(q.exec("SELECT status, started_at FROM saga_step_results WHERE execution_id = 'ex-old'"));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toString(), QStringLiteral("IN_PROGRESS"));
        QCOMPARE(q.value(1).toLongLong(), 1);
        q.finish();
        db.close();
    }
    QSqlDatabase::removeDatabase(conn);

    // The crashed engine's execution is claimed; a new saga runs and ends, and its
    // lease goes with it.
    auto claimed = store.claimSagas("engine-2", 30000, 10);
    QVERIFY2(claimed.ok(), qPrintable(claimed.error.message));
    QCOMPARE(claimed.value.size(), 1);
    QCOMPARE(claimed.value.first().executionId, QStringLiteral("ex-old"));
    const auto old = store.loadEvents(crashed);
    QVERIFY2(old.ok(), qPrintable(old.error.message));
    QCOMPARE(old.value.size(), 2);
    QCOMPARE(old.value[1].position, qint64(2));
    QCOMPARE(old.value[1].details.value("idempotencyKey").toString(), QStringLiteral("ex-old:inventory:reserve"));
    const QUuid fresh = QUuid::createUuid();
    const auto committed =
        store.commitTransitions({started(fresh, "ex-new"), stepStarted(fresh, "ex-new", 2)}, "engine-2", 30000);
    QVERIFY2(committed.ok(), qPrintable(committed.error.message));
    QCOMPARE(committed.value.first().position, qint64(3)); // positions go on after the copied events
    QCOMPARE(store.loadEventsAfterPosition(0, 10).value.size(), 4);
    QCOMPARE(store.renewLeases("engine-2", 30000).value, 2);
    StoreTransition failed = stepStarted(fresh, "ex-new", 3);
    failed.event.type = EventType::SagaFailed;
    failed.event.step.reset();
    failed.overall = OverallStatus::Failed;
    failed.currentStep.reset();
    failed.stepStatus.reset();
    QVERIFY(store.commitTransitions({failed}, "engine-2", 30000).ok());
    QCOMPARE(store.renewLeases("engine-2", 30000).value, 1);
    QCOMPARE(store.claimSagas("engine-3", 30000, 10).value.size(), 0);
}

// On SQLite the batch commit keeps prepared statements on the connection's own
// handle (SqliteStatements). They must be finalized before the connection closes:
// SQLite refuses to close a handle with live statements, and the file would stay
// open, with its write-ahead log, after the store is gone. A clean close removes
// the -wal file, so its absence shows the handle really closed.
void tst_SagaStore::sqliteCommitStatementsAreReleasedOnClose()
{
    const DatabaseUrl url = newDatabase("sqlite");
    const QString wal = url.path + QStringLiteral("-wal");
    {
        SagaStore store(url, name());
        StoreError e = store.open();
        QVERIFY2(e.ok(), qPrintable(e.message));
        for (int i = 0; i < 3; ++i) {
            const QUuid id = QUuid::createUuid();
            const QString execution = QStringLiteral("ex-%1").arg(i);
            auto r = store.commitTransitions({started(id, execution)}, "me", 30000);
            QVERIFY2(r.ok(), qPrintable(r.error.message));
            r = store.commitTransitions({stepStarted(id, execution, 2)}, "me", 30000);
            QVERIFY2(r.ok(), qPrintable(r.error.message));
        }
        QVERIFY(QFile::exists(wal)); // WAL mode, written and still open
    }
    QVERIFY2(!QFile::exists(wal), "the store's SQLite handle was not closed");
    // And the data is all there for the next connection.
    SagaStore again(url, name() + QStringLiteral("-again"));
    StoreError e = again.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    const auto events = again.loadEventsAfterPosition(0, 100);
    QVERIFY2(events.ok(), qPrintable(events.error.message));
    QCOMPARE(events.value.size(), 6);
}

// A console and a saga-server (or two engines) started together on a file that
// does not exist yet: one creates the schema while the others wait for it,
// instead of failing with "database is locked" (switching a fresh file to WAL
// needs it to themselves, and SQLite answers that at once, without a busy wait).
void tst_SagaStore::sqliteFreshFileOpenedByManyAtOnce()
{
    constexpr int kStores = 4;
    for (int round = 0; round < 8; ++round) {
        const DatabaseUrl url = newDatabase("sqlite");
        QVERIFY(!QFile::exists(url.path));
        std::atomic<int> ready{0};
        QStringList errors[kStores];
        std::vector<std::unique_ptr<QThread>> threads;
        for (int i = 0; i < kStores; ++i) {
            threads.emplace_back(QThread::create([&, i] {
                SagaStore store(url, name());
                ++ready;
                while (ready.load() < kStores) {
                } // start together
                if (StoreError e = store.open())
                    errors[i] << e.message;
                else if (auto events = store.loadEventsAfterPosition(0, 10); !events.ok())
                    errors[i] << events.error.message;
            }));
            threads.back()->start();
        }
        for (auto &t : threads)
            QVERIFY(t->wait(60000));
        for (int i = 0; i < kStores; ++i)
            QVERIFY2(errors[i].isEmpty(), qPrintable(QStringLiteral("round %1, store %2: %3").arg(round).arg(i).arg(errors[i].join("; "))));
    }
}

// The file deleted (a user clearing demo data) or renamed over (a backup put back)
// while a store has it open: SQLite would go on writing into the old file, where
// nothing can be found again. Writes answer Unavailable instead (the engine
// pauses), and reconnecting neither creates a new empty file nor moves to the
// other one.
void tst_SagaStore::sqliteFileDeletedOrReplacedWhileOpen_data()
{
    QTest::addColumn<bool>("replace");
    QTest::newRow("deleted") << false;
    QTest::newRow("replaced") << true;
}

void tst_SagaStore::sqliteFileDeletedOrReplacedWhileOpen()
{
    QFETCH(bool, replace);
    const DatabaseUrl url = newDatabase("sqlite");
    SagaStore store(url, name());
    StoreError e = store.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    const QUuid id = QUuid::createUuid();
    auto r = store.commitTransitions({started(id, "ex-1")}, "me", 30000);
    QVERIFY2(r.ok(), qPrintable(r.error.message));
    QVERIFY(store.renewLeases("me", 30000).ok());

    for (const QString &suffix : {QString(), QStringLiteral("-wal"), QStringLiteral("-shm")})
        QFile::remove(url.path + suffix);
    if (replace) {
        const DatabaseUrl other = newDatabase("sqlite");
        {
            SagaStore creator(other, name());
            QVERIFY(creator.open().ok());
        }
        QVERIFY(QFile::rename(other.path, url.path));
    }
    const QString how = replace ? QStringLiteral("replaced") : QStringLiteral("deleted");
    r = store.commitTransitions({stepStarted(id, "ex-1", 2)}, "me", 30000);
    QCOMPARE(r.error.kind, StoreError::Unavailable);
    QVERIFY2(r.error.message.contains(how), qPrintable(r.error.message));
    QCOMPARE(store.renewLeases("me", 30000).error.kind, StoreError::Unavailable);
    QCOMPARE(store.claimSagas("me", 30000, 10, true).error.kind, StoreError::Unavailable);
    e = store.reconnect();
    QCOMPARE(e.kind, StoreError::Unavailable);
    QCOMPARE(QFile::exists(url.path), replace); // no new empty file where it was deleted
}

// A reader (the console's database mode, saga-server's read connections) changes
// nothing: it does not create a missing SQLite file, does not put its tables into
// someone else's database, does not upgrade an older schema (each refused with
// what to do), and on PostgreSQL cannot write at all (SELECT rights suffice).
void tst_SagaStore::readerNeitherCreatesNorMigrates_data() { backends(); }
void tst_SagaStore::readerNeitherCreatesNorMigrates()
{
    QFETCH(QString, backend);
    const bool sqlite = backend == QLatin1String("sqlite");
    const DatabaseUrl url = newDatabase(backend);
    SagaStore reader(url, name());
    reader.setReadOnly(true);
    StoreError e;
    if (sqlite) {
        e = reader.open();
        QCOMPARE(e.kind, StoreError::Unavailable);
        QVERIFY2(e.message.contains(QLatin1String("does not exist")), qPrintable(e.message));
        QVERIFY(!QFile::exists(url.path));
    }
    const QString conn = name();
    QSqlDatabase db = url.addConnection(conn);
    QVERIFY2(db.open(), qPrintable(db.lastError().text()));
    QSqlQuery q(db);
    auto tables = [&] {
        const bool ok = q.exec(sqlite ? QStringLiteral("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
                                      : QStringLiteral("SELECT COUNT(*) FROM information_schema.tables "
                                                       "WHERE table_schema = current_schema()"));
        return ok && q.next() ? q.value(0).toInt() : -1;
    };
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")));

    e = reader.open(); // someone else's database
    QCOMPARE(int(e.kind), int(StoreError::Invalid));
    QVERIFY2(e.message.contains(QLatin1String("no Saga Console tables")), qPrintable(e.message));
    QCOMPARE(tables(), 1);

    QVERIFY(q.exec(QStringLiteral("DROP TABLE notes")));
    QVERIFY(applyFirstSchema(db, sqlite ? QStringLiteral("sqlite") : QStringLiteral("postgres")));
    const int firstSchemaTables = tables();
    e = reader.open(); // as an older program left it
    QCOMPARE(int(e.kind), int(StoreError::Invalid));
    QVERIFY2(e.message.contains(QLatin1String("schema is version 1, older than this program's")), qPrintable(e.message));
    QVERIFY(q.exec(QStringLiteral("SELECT MAX(version) FROM schema_version")) && q.next());
    QCOMPARE(q.value(0).toInt(), 1);
    QCOMPARE(tables(), firstSchemaTables);
    q.finish();

    {
        SagaStore engine(url, name());
        QVERIFY(engine.open().ok());
        QVERIFY(engine.commitTransitions({started(QUuid::createUuid(), "ex-r")}, "me", 30000).ok());
    }
    e = reader.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    auto orders = reader.listOrders(OrderListFilter{});
    QVERIFY2(orders.ok(), qPrintable(orders.error.message));
    QCOMPARE(orders.value.orders.size(), 1);
    if (!sqlite) {
        auto written = reader.commitTransitions({started(QUuid::createUuid(), "ex-w")}, "me", 30000);
        QVERIFY(!written.ok());
        QVERIFY2(written.error.message.contains(QLatin1String("read-only")), qPrintable(written.error.message));
    }
    db.close();
}

// The ETA history: durations of finished steps only (not one in progress, not a
// failed one), newest execution first (time-ordered ids), at most `limit`.
void tst_SagaStore::recentStepDurationsComeFromTheNewestExecutions_data() { backends(); }
void tst_SagaStore::recentStepDurationsComeFromTheNewestExecutions()
{
    QFETCH(QString, backend);
    SagaStore store(newDatabase(backend), name());
    StoreError e = store.open();
    QVERIFY2(e.ok(), qPrintable(e.message));
    const QDateTime t0 = QDateTime::fromMSecsSinceEpoch(1764979200000, Qt::UTC);
    // Executions 1..5 in creation order; 4 is still running, 5's step failed.
    for (int n = 1; n <= 5; ++n) {
        const QUuid order = QUuid::createUuid();
        const QString execution = QStringLiteral("0192a7c4-%1-7000-8000-000000000000").arg(n, 4, 10, QLatin1Char('0'));
        StoreTransition reserve = stepStarted(order, execution, 2);
        reserve.event.timestamp = t0.addSecs(n);
        QVector<StoreTransition> batch{started(order, execution), reserve};
        if (n != 4) {
            StoreTransition end = reserve;
            end.event.seq = 3;
            end.event.timestamp = reserve.event.timestamp.addMSecs(10 * n);
            end.event.type = n == 5 ? EventType::StepFailed : EventType::StepCompleted;
            end.event.details = n == 5 ? QJsonObject{{"phase", "FORWARD"}} : QJsonObject{{"reservationId", "R"}};
            end.stepStatus = n == 5 ? StepStatus::Failed : StepStatus::Completed;
            batch << end;
        }
        auto r = store.commitTransitions(batch, "me", 30000);
        QVERIFY2(r.ok(), qPrintable(r.error.message));
    }
    auto recent = store.recentStepDurations(2);
    QVERIFY2(recent.ok(), qPrintable(recent.error.message));
    QCOMPARE(recent.value.size(), 2);
    QCOMPARE(recent.value[0], qMakePair(SagaStep::Inventory, qint64(30)));
    QCOMPARE(recent.value[1], qMakePair(SagaStep::Inventory, qint64(20)));
    recent = store.recentStepDurations(100);
    QVERIFY2(recent.ok(), qPrintable(recent.error.message));
    QCOMPARE(recent.value.size(), 3);
    QCOMPARE(recent.value[2], qMakePair(SagaStep::Inventory, qint64(10)));
}

QTEST_GUILESS_MAIN(tst_SagaStore)
#include "tst_sagastore.moc"
