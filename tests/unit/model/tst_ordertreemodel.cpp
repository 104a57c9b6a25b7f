#include "ordertreemodel.h"
#include "sagascenarios.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QtTest>
#include <map>
#include <random>
#include <set>

using namespace SagaScenarios;

namespace {

using Column = OrderTreeModel::Column;

// Every role the model documents, plus DisplayRole (ToolTipRole is the same text,
// checked in displayFormatting). IsLateRole is compared too, but it depends on the
// clock, so it is not required to be signalled.
const QList<int> kRoles{Qt::DisplayRole,
                        OrderTreeModel::RawStatusRole,
                        OrderTreeModel::IsStepRole,
                        OrderTreeModel::OrderIdRole,
                        OrderTreeModel::StepRole,
                        OrderTreeModel::ProgressRole,
                        OrderTreeModel::EtaRole,
                        OrderTreeModel::ErrorCodeRole,
                        OrderTreeModel::ErrorMessageRole,
                        OrderTreeModel::StepStatusesRole,
                        OrderTreeModel::TimestampRole,
                        OrderTreeModel::SortRole,
                        OrderTreeModel::SearchTextRole,
                        OrderTreeModel::CustomerIdRole};

// A cell of the tree: order row (step == -1) or step row.
struct CellKey {
    QUuid order;
    int step;
    int column;
    bool operator<(const CellKey &o) const
    {
        return std::tie(order, step, column) < std::tie(o.order, o.step, o.column);
    }
};
using CellValues = std::map<CellKey, QVector<QVariant>>; // values in kRoles order

QModelIndex cellIndex(const OrderTreeModel &m, const CellKey &k)
{
    const QModelIndex orderIndex = m.indexOf(k.order, k.step < 0 ? k.column : 0);
    return k.step < 0 ? orderIndex : m.index(k.step, k.column, orderIndex);
}

void snapshotOrder(const OrderTreeModel &m, const QUuid &id, CellValues *out)
{
    for (int step = -1; step < kStepCount; ++step) {
        for (int c = 0; c < OrderTreeModel::ColumnCount; ++c) {
            const CellKey k{id, step, c};
            const QModelIndex idx = cellIndex(m, k);
            QVector<QVariant> values;
            values.reserve(kRoles.size());
            for (int role : kRoles)
                values.append(idx.data(role));
            (*out)[k] = values;
        }
    }
}

// A stream of valid saga event sequences for many orders, interleaved, with
// duplicates and swapped neighbours (the fold must buffer and drain), plus some
// deliberately illegal events that must be rejected.
class EventStream
{
public:
    EventStream(int orders, quint32 seed, quint32 firstId) : m_rng(seed)
    {
        for (int n = 0; n < orders; ++n) {
            const quint32 i = firstId + quint32(n);
            const Kind kind = Kind(std::uniform_int_distribution<int>(0, kKindCount - 1)(m_rng));
            const QUuid id = QUuid::createUuidV5(QUuid(), QStringLiteral("order-%1").arg(i));
            m_pending.push_back({id, scenario(kind, id, baseTime().addMSecs(qint64(n) * 37),
                                              std::uniform_int_distribution<int>(20, 400)(m_rng))});
        }
        std::reverse(m_pending.begin(), m_pending.end());
    }

    bool atEnd() const { return m_active.empty() && m_pending.empty(); }
    int injectedRejections() const { return m_injected; }

    QVector<OrderEvent> nextBatch(int size)
    {
        QVector<OrderEvent> batch;
        while (batch.size() < size && !atEnd()) {
            while (m_active.size() < 40 && !m_pending.empty()) {
                m_active.push_back({m_pending.back().first, m_pending.back().second, 0});
                m_pending.pop_back();
            }
            const size_t pick = std::uniform_int_distribution<size_t>(0, m_active.size() - 1)(m_rng);
            Active &a = m_active[pick];
            const int roll = std::uniform_int_distribution<int>(0, 99)(m_rng);
            if (roll < 3 && a.next + 1 < a.events.size()) {
                batch.append(a.events[a.next + 1]); // swapped neighbours
                batch.append(a.events[a.next]);
                a.next += 2;
            } else {
                batch.append(a.events[a.next]);
                ++a.next;
            }
            if (roll >= 95 && a.next > 0) // duplicate delivery
                batch.append(a.events[std::uniform_int_distribution<int>(0, a.next - 1)(m_rng)]);
            if (roll == 50) { // an unknown order whose first event is illegal: never inserted
                OrderEvent orphan = a.events.first();
                orphan.orderId = QUuid::createUuidV5(a.id, QStringLiteral("orphan-%1").arg(m_injected));
                orphan.type = EventType::StepCompleted;
                orphan.step = SagaStep::Payment;
                batch.append(orphan);
                ++m_injected;
            }
            if (a.next >= a.events.size()) {
                if (roll < 10) { // after the terminal event: restarting a step is illegal
                    OrderEvent bad = a.events.last();
                    bad.seq += 1;
                    bad.type = EventType::StepStarted;
                    bad.step = SagaStep::Inventory;
                    bad.timestamp = bad.timestamp.addMSecs(1);
                    batch.append(bad);
                    ++m_injected;
                }
                m_active.erase(m_active.begin() + std::ptrdiff_t(pick));
            }
        }
        return batch;
    }

private:
    struct Active {
        QUuid id;
        QVector<OrderEvent> events;
        int next = 0;
    };
    std::mt19937 m_rng;
    std::vector<std::pair<QUuid, QVector<OrderEvent>>> m_pending;
    std::vector<Active> m_active;
    int m_injected = 0;
};

const QUuid kOrder = QUuid::fromString(QStringLiteral("550e8400-e29b-41d4-a716-446655440000"));

} // namespace

class tst_OrderTreeModel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void structure();
    void displayFormatting();
    void stepCompletionSignalsExactCells();
    void orderRowTellsWhyTheSagaFailed();
    void singleBatchInsertsOnce();
    void rejectedEventsAreSignalled();
    void loadSnapshots();
    void displayUtcToggle();
    void etaIsFed();
    void clearForgetsTheStepTimes();
    void loadedOrderInFlightHasAnEta();
    void retryResetAnnouncesCells();
    void randomSequences_data();
    void randomSequences();
    void largeModel();
};

void tst_OrderTreeModel::structure()
{
    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.applyEvents(scenario(Kind::Success, kOrder).mid(0, 4));
    QCOMPARE(model.rowCount(), 1);
    QCOMPARE(model.columnCount(), int(OrderTreeModel::ColumnCount));
    const QModelIndex order = model.index(0, 0);
    QVERIFY(order.isValid());
    QCOMPARE(order.internalPointer(), nullptr);
    QCOMPARE(model.rowCount(order), 3);
    QCOMPARE(model.rowCount(model.index(0, 2)), 0); // only column 0 has children
    const QModelIndex payment = model.index(1, 2, order);
    QVERIFY(payment.internalPointer() != nullptr);
    QCOMPARE(payment.parent(), order);
    QCOMPARE(model.rowCount(payment), 0);
    QVERIFY(!model.index(3, 0, order).isValid());
    QCOMPARE(model.orderAt(payment), model.order(kOrder));
    QCOMPARE(model.orderAt(order), model.order(kOrder));
    QCOMPARE(model.indexOf(kOrder, 3), model.index(0, 3));
    QVERIFY(!model.indexOf(QUuid::createUuid()).isValid());
    QCOMPARE(payment.data(OrderTreeModel::IsStepRole).toBool(), true);
    QCOMPARE(payment.data(OrderTreeModel::StepRole).toInt(), int(SagaStep::Payment));
    QCOMPARE(order.data(OrderTreeModel::StepRole).toInt(), -1);
    QCOMPARE(payment.data(OrderTreeModel::OrderIdRole).toUuid(), kOrder);
    QVERIFY(!order.data(Qt::DecorationRole).isValid()); // the delegate paints icons
    QCOMPARE(model.headerData(0, Qt::Horizontal, Qt::DisplayRole).toString(), QStringLiteral("Order"));
}

void tst_OrderTreeModel::displayFormatting()
{
    OrderTreeModel model;
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder, baseTime(), 1234);
    model.applyEvents(events);
    const QModelIndex order = model.index(0, 0);
    QCOMPARE(order.data().toString(), QStringLiteral("ORD-20240110-000001"));
    QCOMPARE(order.data(Qt::ToolTipRole), order.data(Qt::DisplayRole));
    QCOMPARE(model.index(0, OrderTreeModel::CustomerColumn).data().toString(),
             QStringLiteral("11111111-2222-3333-4444-555555555555"));
    QCOMPARE(model.index(0, OrderTreeModel::StatusColumn).data().toString(), QStringLiteral("ROLLED_BACK"));
    QCOMPARE(model.index(0, OrderTreeModel::StatusColumn).data(OrderTreeModel::RawStatusRole).toInt(),
             int(OverallStatus::RolledBack));
    QCOMPARE(model.index(0, OrderTreeModel::CurrentStepColumn).data().toString(), QStringLiteral("Payment declined"));
    QCOMPARE(model.index(0, OrderTreeModel::CurrentStepColumn).data(Qt::ToolTipRole).toString(),
             QStringLiteral("Payment Processing failed: Payment declined\nPAYMENT_DECLINED"));
    QCOMPARE(model.index(0, OrderTreeModel::ProgressColumn).data().toString(), QStringLiteral("100 %"));
    QCOMPARE(model.index(0, OrderTreeModel::LastUpdatedColumn).data().toString(),
             events.last().timestamp.toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")));
    QCOMPARE(model.index(0, OrderTreeModel::EtaColumn).data().toString(), QString()); // terminal
    QVERIFY(!model.index(0, OrderTreeModel::EtaColumn).data(OrderTreeModel::EtaRole).toDateTime().isValid());
    QCOMPARE(order.data(OrderTreeModel::ErrorCodeRole).toString(), QStringLiteral("PAYMENT_DECLINED"));
    QCOMPARE(order.data(OrderTreeModel::StepStatusesRole).toList(),
             (QVariantList{int(StepStatus::Compensated), int(StepStatus::Failed), int(StepStatus::Skipped)}));
    QVERIFY(order.data(OrderTreeModel::SearchTextRole).toString().contains(QLatin1String("ORD-20240110-000001")));

    const QModelIndex inventory = model.index(0, 0, order);
    const QModelIndex payment = model.index(1, 0, order);
    QCOMPARE(inventory.data().toString(), QStringLiteral("Inventory Reservation"));
    QCOMPARE(model.index(0, OrderTreeModel::StatusColumn, order).data().toString(), QStringLiteral("COMPENSATED"));
    QCOMPARE(model.index(0, OrderTreeModel::ProgressColumn, order).data().toString(), QStringLiteral("1.2 s"));
    QCOMPARE(model.index(1, OrderTreeModel::CurrentStepColumn, order).data().toString(), QStringLiteral("Payment declined"));
    QCOMPARE(payment.data(OrderTreeModel::ErrorCodeRole).toString(), QStringLiteral("PAYMENT_DECLINED"));
    QCOMPARE(model.index(2, OrderTreeModel::StatusColumn, order).data().toString(), QStringLiteral("SKIPPED"));
    QCOMPARE(model.index(2, OrderTreeModel::ProgressColumn, order).data().toString(), QString());
}

void tst_OrderTreeModel::stepCompletionSignalsExactCells()
{
    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    model.applyEvents(events.mid(0, 2)); // inventory running
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(changed.isValid());
    model.applyEvent(events[2]); // inventory completed
    QCOMPARE(changed.count(), 2);

    // Order row: current step cleared, progress 0 -> 33, last updated, step icons, ETA.
    const QModelIndex orderTl = changed[0][0].toModelIndex();
    const QModelIndex orderBr = changed[0][1].toModelIndex();
    QVERIFY(!orderTl.parent().isValid());
    QCOMPARE(orderTl.column(), 0);
    QCOMPARE(orderBr.column(), int(OrderTreeModel::EtaColumn));
    const QList<int> orderRoles = changed[0][2].value<QList<int>>();
    for (int r : {int(Qt::DisplayRole), int(OrderTreeModel::ProgressRole), int(OrderTreeModel::StepStatusesRole),
                  int(OrderTreeModel::TimestampRole), int(OrderTreeModel::EtaRole)})
        QVERIFY2(orderRoles.contains(r), qPrintable(QString::number(r)));
    for (int r : {int(OrderTreeModel::RawStatusRole), int(OrderTreeModel::ErrorCodeRole),
                  int(OrderTreeModel::CustomerIdRole), int(OrderTreeModel::SearchTextRole)})
        QVERIFY2(!orderRoles.contains(r), qPrintable(QString::number(r))); // unchanged

    // Step row: status, duration and completion time; error and ETA columns untouched.
    const QModelIndex stepTl = changed[1][0].toModelIndex();
    const QModelIndex stepBr = changed[1][1].toModelIndex();
    QCOMPARE(stepTl.parent(), model.index(0, 0));
    QCOMPARE(stepTl.row(), 0);
    QCOMPARE(stepBr.row(), 0);
    QCOMPARE(stepTl.column(), 0);
    QCOMPARE(stepBr.column(), int(OrderTreeModel::LastUpdatedColumn));
    const QList<int> stepRoles = changed[1][2].value<QList<int>>();
    QVERIFY(stepRoles.contains(OrderTreeModel::RawStatusRole));
    QVERIFY(stepRoles.contains(OrderTreeModel::TimestampRole));
    QVERIFY(!stepRoles.contains(OrderTreeModel::ErrorMessageRole));
    QVERIFY(!stepRoles.contains(OrderTreeModel::ErrorCodeRole));
}

void tst_OrderTreeModel::orderRowTellsWhyTheSagaFailed()
{
    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    const auto errorCell = [&model](int row) { return model.index(row, OrderTreeModel::CurrentStepColumn); };

    // While a step runs the cell names it; the failure replaces it in the same change.
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    qsizetype failedAt = -1;
    for (qsizetype i = 0; i < events.size(); ++i) {
        if (events[i].type == EventType::StepFailed)
            failedAt = i;
    }
    QVERIFY(failedAt > 0);
    model.applyEvents(events.mid(0, failedAt));
    QCOMPARE(errorCell(0).data().toString(), QStringLiteral("Payment Processing"));
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(changed.isValid());
    model.applyEvent(events[failedAt]);
    QCOMPARE(errorCell(0).data().toString(), QStringLiteral("Payment declined"));
    bool announced = false;
    for (const QList<QVariant> &c : std::as_const(changed)) {
        const QModelIndex tl = c[0].toModelIndex();
        const QModelIndex br = c[1].toModelIndex();
        announced |= !tl.parent().isValid() && tl.row() == 0 && tl.column() <= OrderTreeModel::CurrentStepColumn
                     && br.column() >= OrderTreeModel::CurrentStepColumn
                     && c[2].value<QList<int>>().contains(Qt::DisplayRole);
    }
    QVERIFY(announced);
    model.applyEvents(events.mid(failedAt + 1));
    QCOMPARE(errorCell(0).data().toString(), QStringLiteral("Payment declined"));

    // A reversal that kept failing says so first; the tooltip names the failed step.
    const QUuid incomplete = QUuid::createUuid();
    model.applyEvents(scenario(Kind::CompensationFails, incomplete));
    const QModelIndex incompleteRow = model.indexOf(incomplete, OrderTreeModel::CurrentStepColumn);
    QVERIFY2(incompleteRow.data().toString().startsWith(QStringLiteral("Compensation incomplete: ")),
             qPrintable(incompleteRow.data().toString()));
    QVERIFY2(incompleteRow.data(Qt::ToolTipRole).toString().startsWith(QStringLiteral("Payment Processing failed: ")),
             qPrintable(incompleteRow.data(Qt::ToolTipRole).toString()));
    const QUuid first = QUuid::createUuid();
    model.applyEvents(scenario(Kind::InventoryFails, first));
    const QString firstTip = model.indexOf(first, OrderTreeModel::CurrentStepColumn).data(Qt::ToolTipRole).toString();
    QVERIFY2(firstTip.startsWith(QStringLiteral("Inventory Reservation failed: ")), qPrintable(firstTip));
    QVERIFY(!model.indexOf(first, OrderTreeModel::CurrentStepColumn).data().toString().isEmpty());

    // A retry clears it as it starts (no step runs yet); a saga that never failed shows nothing.
    const QUuid retried = QUuid::createUuid();
    const QVector<OrderEvent> retry = scenario(Kind::RetryThenSuccess, retried);
    qsizetype restart = -1;
    for (qsizetype i = 1; i < retry.size() && restart < 0; ++i) {
        if (retry[i].type == EventType::SagaStarted)
            restart = i;
    }
    QVERIFY(restart > 0);
    model.applyEvents(retry.mid(0, restart));
    QCOMPARE(model.indexOf(retried, OrderTreeModel::CurrentStepColumn).data().toString(), QStringLiteral("Payment declined"));
    changed.clear();
    model.applyEvent(retry[restart]);
    QCOMPARE(model.indexOf(retried, OrderTreeModel::CurrentStepColumn).data().toString(), QString());
    announced = false;
    for (const QList<QVariant> &c : std::as_const(changed)) {
        announced |= c[0].toModelIndex().row() == model.indexOf(retried).row() && !c[0].toModelIndex().parent().isValid()
                     && c[1].toModelIndex().column() >= OrderTreeModel::CurrentStepColumn
                     && c[0].toModelIndex().column() <= OrderTreeModel::CurrentStepColumn
                     && c[2].value<QList<int>>().contains(Qt::DisplayRole);
    }
    QVERIFY(announced);
    model.applyEvents(retry.mid(restart + 1));
    QCOMPARE(model.indexOf(retried, OrderTreeModel::CurrentStepColumn).data().toString(), QString());
    QCOMPARE(model.indexOf(retried, OrderTreeModel::StatusColumn).data().toString(), QStringLiteral("COMPLETED"));
    const QUuid fine = QUuid::createUuid();
    model.applyEvents(scenario(Kind::Success, fine));
    QCOMPARE(model.indexOf(fine, OrderTreeModel::CurrentStepColumn).data().toString(), QString());
}

void tst_OrderTreeModel::singleBatchInsertsOnce()
{
    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy ordersInserted(&model, &OrderTreeModel::ordersInserted);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    QVERIFY(inserted.isValid() && ordersInserted.isValid() && changed.isValid() && reset.isValid());
    QVector<OrderEvent> batch;
    for (int i = 0; i < 50; ++i)
        batch += scenario(Kind(i % kKindCount), QUuid::createUuid());
    model.applyEvents(batch);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(inserted[0][1].toInt(), 0);
    QCOMPARE(inserted[0][2].toInt(), 49);
    QCOMPARE(ordersInserted.count(), 1);
    QCOMPARE(ordersInserted[0][0].toInt(), 50);
    QCOMPARE(changed.count(), 0); // new rows are announced by the insertion alone
    QCOMPARE(reset.count(), 0);
    QCOMPARE(model.orderCount(), 50);
}

void tst_OrderTreeModel::rejectedEventsAreSignalled()
{
    OrderTreeModel model;
    QSignalSpy rejected(&model, &OrderTreeModel::eventRejected);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(rejected.isValid() && changed.isValid());
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    model.applyEvents(events);
    const OrderProgress before = *model.order(kOrder);
    OrderEvent bad = events.last();
    bad.seq = 9;
    bad.type = EventType::StepStarted;
    bad.step = SagaStep::Shipping; // COMPLETED -> IN_PROGRESS
    model.applyEvent(bad);
    QCOMPARE(rejected.count(), 1);
    QCOMPARE(rejected[0][0].value<OrderEvent>(), bad);
    QVERIFY(rejected[0][1].toString().contains(QLatin1String("COMPLETED -> IN_PROGRESS")));
    QCOMPARE(*model.order(kOrder), before);
    QCOMPARE(changed.count(), 0);
}

void tst_OrderTreeModel::loadSnapshots()
{
    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    OrderProgress p(kOrder);
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    for (int i = 0; i < 4; ++i)
        p.apply(events[i]);
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    model.loadSnapshots({p});
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(model.order(kOrder)->lastSeq, 4);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    model.applyEvents(events.mid(0, 4)); // duplicates: nothing happens
    QCOMPARE(changed.count(), 0);
    model.applyEvents(events.mid(4));
    QCOMPARE_STATUS(model.order(kOrder)->overallStatus, OverallStatus::Completed);
    QVERIFY(changed.count() > 0);
    model.loadSnapshots({p}); // replacing: dataChanged, no insertion
    QCOMPARE(inserted.count(), 1);
    QCOMPARE_STATUS(model.order(kOrder)->overallStatus, OverallStatus::InProgress);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    model.clear();
    QCOMPARE(reset.count(), 1);
    QCOMPARE(model.orderCount(), 0);
    QVERIFY(!model.order(kOrder));
}

void tst_OrderTreeModel::displayUtcToggle()
{
    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.applyEvents(scenario(Kind::Success, kOrder));
    model.applyEvents(scenario(Kind::Success, QUuid::createUuid()));
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(changed.isValid());
    const QModelIndex updated = model.index(0, OrderTreeModel::LastUpdatedColumn);
    const QDateTime last = model.order(kOrder)->lastUpdated;
    model.setDisplayUtc(false);
    QVERIFY(!model.displayUtc());
    QCOMPARE(updated.data().toString(), last.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")));
    QCOMPARE(changed.count(), 3); // order rows once, step rows once per order
    QCOMPARE(changed[0][0].toModelIndex().column(), int(OrderTreeModel::LastUpdatedColumn));
    QCOMPARE(changed[0][1].toModelIndex().column(), int(OrderTreeModel::EtaColumn));
    QCOMPARE(changed[0][1].toModelIndex().row(), 1);
    QVERIFY(changed[0][2].value<QList<int>>().contains(Qt::DisplayRole));
    QCOMPARE(changed[1][0].toModelIndex().parent(), model.index(0, 0));
    model.setDisplayUtc(false); // no change, no signal
    QCOMPARE(changed.count(), 3);
    model.setDisplayUtc(true);
    QCOMPARE(updated.data().toString(), last.toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")));
}

void tst_OrderTreeModel::etaIsFed()
{
    OrderTreeModel model;
    model.setClock([] { return baseTime(); });
    for (int i = 0; i < 10; ++i)
        model.applyEvents(scenario(Kind::Success, QUuid::createUuid(), baseTime(), 300));
    QCOMPARE(model.eta().sampleCount(SagaStep::Inventory), 10);
    QCOMPARE(model.eta().p50(SagaStep::Payment), 300);
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder, baseTime(), 300);
    model.applyEvents(events.mid(0, 4)); // payment running, started at events[3]
    const OrderProgress *p = model.order(kOrder);
    // now = the event's timestamp: payment 300 + shipping 300, no variance in history.
    QCOMPARE(p->estimatedCompletion, events[3].timestamp.addMSecs(600));
    QCOMPARE(model.indexOf(kOrder, OrderTreeModel::EtaColumn).data(OrderTreeModel::EtaRole).toDateTime(),
             p->estimatedCompletion);
    QCOMPARE(model.indexOf(kOrder).data(OrderTreeModel::IsLateRole).toBool(), false);
    model.setClock([] { return baseTime().addSecs(3600); });
    QCOMPARE(model.indexOf(kOrder).data(OrderTreeModel::IsLateRole).toBool(), true);
    model.applyEvents(events.mid(4));
    QVERIFY(model.order(kOrder)->estimatedCompletion.isNull());
}

// Cleared (File > Connect to another source, or its data replaced): the step
// times of the orders dropped no longer make the ETAs and late marks of the next
// source's orders; they are estimated with the defaults until its own steps end.
void tst_OrderTreeModel::clearForgetsTheStepTimes()
{
    OrderTreeModel fresh;
    OrderTreeModel model;
    model.setClock([] { return baseTime(); });
    fresh.setClock([] { return baseTime(); });
    for (int i = 0; i < 10; ++i)
        model.applyEvents(scenario(Kind::Success, QUuid::createUuid(), baseTime(), 30000));
    QCOMPARE(model.eta().p50(SagaStep::Payment), 30000);
    model.clear();
    for (SagaStep step : kAllSteps) {
        QCOMPARE(model.eta().sampleCount(step), 0);
        QCOMPARE(model.eta().p50(step), fresh.eta().p50(step));
        QCOMPARE(model.eta().p95(step), fresh.eta().p95(step));
    }
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder, baseTime(), 300);
    model.applyEvents(events.mid(0, 4));
    fresh.applyEvents(events.mid(0, 4));
    QCOMPARE(model.order(kOrder)->estimatedCompletion, fresh.order(kOrder)->estimatedCompletion);
}

// A console that crashed with sagas in flight, reopened: those orders came from the
// store as snapshots and showed no ETA ("not known yet") and no late mark until
// their next event, long after they were past their p95 (the dead engine's lease
// runs 30 s). A loaded order not finished has the ETA the events would have
// given it, late when its step started long ago; stored step durations read
// after it estimate it again.
void tst_OrderTreeModel::loadedOrderInFlightHasAnEta()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder, baseTime(), 300);
    OrderProgress running(kOrder);
    for (int i = 0; i < 4; ++i) // payment running, started at events[3]
        running.apply(events[i]);
    QVERIFY(!running.estimatedCompletion.isValid());
    OrderProgress done(QUuid::createUuid());
    for (const OrderEvent &e : scenario(Kind::Success, done.orderId, baseTime(), 300))
        done.apply(e);
    done.estimatedCompletion = baseTime(); // a stale estimate: a finished order has none

    QDateTime now = events[3].timestamp.addMSecs(100);
    OrderTreeModel model;
    model.setClock([&now] { return now; });
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.loadSnapshots({running, done});
    OrderTreeModel live; // the same events applied
    live.applyEvents(events.mid(0, 4));
    const QDateTime expected = live.order(kOrder)->estimatedCompletion;
    QVERIFY(expected > events[3].timestamp);
    QCOMPARE(model.order(kOrder)->estimatedCompletion, expected);
    const QModelIndex eta = model.indexOf(kOrder, OrderTreeModel::EtaColumn);
    QCOMPARE(eta.data(OrderTreeModel::EtaRole).toDateTime(), expected);
    QCOMPARE(eta.data().toString(), expected.toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")));
    QVERIFY(!eta.data(OrderTreeModel::IsLateRole).toBool());
    QVERIFY(!model.order(done.orderId)->estimatedCompletion.isValid());

    now = events[3].timestamp.addSecs(40); // the engine died; no event since
    QVERIFY(eta.data(OrderTreeModel::IsLateRole).toBool());

    // The stored step durations arrive after the snapshots: estimated again, announced.
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(changed.isValid());
    model.seedEta({{SagaStep::Shipping, 300}, {SagaStep::Payment, 300}});
    QCOMPARE(model.order(kOrder)->estimatedCompletion, events[3].timestamp.addMSecs(600));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed[0][0].toModelIndex(), model.indexOf(kOrder, OrderTreeModel::OrderNumberColumn));
    QCOMPARE(changed[0][1].toModelIndex(), eta);
    const auto roles = changed[0][2].value<QList<int>>();
    QVERIFY(roles.contains(OrderTreeModel::EtaRole) && roles.contains(Qt::DisplayRole));
    QCOMPARE(model.eta().sampleCount(SagaStep::Payment), 1);
}

void tst_OrderTreeModel::retryResetAnnouncesCells()
{
    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    Builder b(kOrder);
    appendKind(b, Kind::PaymentFails);
    model.applyEvents(b.events());
    b.started(2, QStringLiteral("ORD-20240110-000099")); // a renumbered order on retry
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(changed.isValid());
    model.applyEvent(b.events().last());
    // Order row + the three step rows (all reset to PENDING).
    QCOMPARE(changed.count(), 4);
    const QList<int> roles = changed[0][2].value<QList<int>>();
    QVERIFY(roles.contains(OrderTreeModel::SearchTextRole));
    QVERIFY(roles.contains(Qt::DisplayRole));
    QVERIFY(roles.contains(OrderTreeModel::RawStatusRole));
    QVERIFY(roles.contains(OrderTreeModel::ErrorCodeRole)); // failure cleared
    QVERIFY(!roles.contains(OrderTreeModel::CustomerIdRole)); // same customer
    QCOMPARE(changed[0][0].toModelIndex().column(), 0);
    QCOMPARE(model.indexOf(kOrder).data().toString(), QStringLiteral("ORD-20240110-000099"));
    QVERIFY(model.indexOf(kOrder).data(OrderTreeModel::SearchTextRole).toString().contains(QLatin1String("000099")));
    // Search text lives on column 0 only, so a new number changes no other cell's roles.
    QVERIFY(!model.indexOf(kOrder, OrderTreeModel::CustomerColumn).data(OrderTreeModel::SearchTextRole).isValid());
    QCOMPARE(model.indexOf(kOrder, OrderTreeModel::StatusColumn).data().toString(), QStringLiteral("QUEUED"));
    for (int i = 1; i < 4; ++i) {
        QCOMPARE(changed[i][0].toModelIndex().parent(), model.indexOf(kOrder));
        QVERIFY(changed[i][2].value<QList<int>>().contains(OrderTreeModel::RawStatusRole));
    }
}

// Applies a whole stream batch by batch and checks, for every batch: one
// rowsInserted block for exactly the new orders, dataChanged only for orders the
// batch touched, one row per signal, no modelReset/rowsRemoved; and, in one batch
// of every `cellCheckEvery`, that every cell/role that changed was announced and
// that every announced range edge and role really changed. Returns the events
// delivered per order.
static std::map<QUuid, QVector<OrderEvent>> runStream(OrderTreeModel &model, EventStream &stream,
                                                      std::mt19937 &rng, int maxBatch,
                                                      int cellCheckEvery, int *batchesOut)
{
    std::map<QUuid, QVector<OrderEvent>> delivered;
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    if (!inserted.isValid() || !changed.isValid())
        qFatal("spies are not valid");
    std::set<QUuid> known;
    int batches = 0;
    while (!stream.atEnd()) {
        const QVector<OrderEvent> batch =
            stream.nextBatch(std::uniform_int_distribution<int>(1, maxBatch)(rng));
        std::set<QUuid> touched;
        std::set<QUuid> fresh;
        for (const OrderEvent &e : batch) {
            if (known.count(e.orderId))
                touched.insert(e.orderId);
            else if (!(e.type == EventType::StepCompleted && e.seq == 1)) // orphans are rejected
                fresh.insert(e.orderId);
        }
        const bool checkCells = batches % cellCheckEvery == 0;
        CellValues before;
        if (checkCells) {
            for (const QUuid &id : touched)
                snapshotOrder(model, id, &before);
        }
        const int rowsBefore = model.rowCount();
        inserted.clear();
        changed.clear();
        model.applyEvents(batch);
        ++batches;

        [&] {
            QCOMPARE(model.rowCount(), rowsBefore + int(fresh.size()));
            if (fresh.empty()) {
                QCOMPARE(inserted.count(), 0);
            } else {
                QCOMPARE(inserted.count(), 1);
                QVERIFY(!inserted[0][0].toModelIndex().isValid());
                QCOMPARE(inserted[0][1].toInt(), rowsBefore);
                QCOMPARE(inserted[0][2].toInt(), rowsBefore + int(fresh.size()) - 1);
            }
            for (const QUuid &id : fresh) {
                QVERIFY(model.indexOf(id).isValid());
                known.insert(id);
            }
            std::map<CellKey, std::set<int>> announced;
            for (const QList<QVariant> &args : std::as_const(changed)) {
                const QModelIndex tl = args[0].toModelIndex();
                const QModelIndex br = args[1].toModelIndex();
                const QList<int> roles = args[2].value<QList<int>>();
                QCOMPARE(tl.row(), br.row()); // one row per signal
                QCOMPARE(tl.parent(), br.parent());
                QVERIFY(!roles.isEmpty());
                const OrderProgress *p = model.orderAt(tl);
                QVERIFY(p);
                QVERIFY2(touched.count(p->orderId), "dataChanged for an order the batch did not touch");
                const int step = tl.parent().isValid() ? tl.row() : -1;
                for (int c = tl.column(); c <= br.column(); ++c)
                    announced[CellKey{p->orderId, step, c}].insert(roles.cbegin(), roles.cend());
                if (!checkCells)
                    continue;
                std::set<int> changedRoles;
                bool firstChanged = false;
                bool lastChanged = false;
                for (int c = tl.column(); c <= br.column(); ++c) {
                    const CellKey k{p->orderId, step, c};
                    const QModelIndex idx = cellIndex(model, k);
                    for (int r = 0; r < kRoles.size(); ++r) {
                        if (before.at(k)[r] != idx.data(kRoles[r])) {
                            changedRoles.insert(kRoles[r]);
                            firstChanged |= c == tl.column();
                            lastChanged |= c == br.column();
                        }
                    }
                }
                QVERIFY2(firstChanged && lastChanged, "dataChanged spans unchanged edge columns");
                for (int role : roles) {
                    if (role == OrderTreeModel::IsLateRole || role == Qt::ToolTipRole)
                        continue; // clock dependent / same text as DisplayRole
                    QVERIFY2(changedRoles.count(role),
                             qPrintable(QStringLiteral("role %1 announced but unchanged").arg(role)));
                }
            }
            for (const auto &[key, values] : before) {
                const QModelIndex idx = cellIndex(model, key);
                for (int r = 0; r < kRoles.size(); ++r) {
                    if (values[r] == idx.data(kRoles[r]))
                        continue;
                    const auto it = announced.find(key);
                    QVERIFY2(it != announced.end() && it->second.count(kRoles[r]),
                             qPrintable(QStringLiteral("unannounced change: step %1 column %2 role %3")
                                            .arg(key.step)
                                            .arg(key.column)
                                            .arg(kRoles[r])));
                }
            }
        }();
        if (QTest::currentTestFailed())
            break;
        for (const OrderEvent &e : batch)
            delivered[e.orderId].append(e);
    }
    *batchesOut = batches;
    return delivered;
}

// Every order ends exactly as an independent fold of the events it was sent.
static void verifyFinalStates(const OrderTreeModel &model, const std::map<QUuid, QVector<OrderEvent>> &delivered)
{
    for (const auto &[id, events] : delivered) {
        const OrderProgress *p = model.order(id);
        if (!p)
            continue; // orphans: only rejected events
        OrderProgress expected(id);
        for (const OrderEvent &e : events)
            expected.apply(e);
        expected.estimatedCompletion = p->estimatedCompletion;
        QCOMPARE(*p, expected);
        QVERIFY(p->isTerminal());
        QCOMPARE(p->bufferedCount(), 0);
    }
}

void tst_OrderTreeModel::randomSequences_data()
{
    QTest::addColumn<int>("sequences");
    QTest::addColumn<int>("ordersPerModel");
    QTest::addColumn<quint32>("seed");
    QTest::addColumn<int>("maxBatch");
    QTest::newRow("10000 sequences, batches up to 60") << 10000 << 25 << quint32(1) << 60;
    QTest::newRow("2000 sequences, batches up to 5") << 2000 << 25 << quint32(7) << 5;
}

// QAbstractItemModelTester (Fatal) walks the whole tree after every signal, so
// the sequences are spread over many models of `ordersPerModel` orders each;
// every model is watched by its own tester and spies from first to last event.
void tst_OrderTreeModel::randomSequences()
{
    QLoggingCategory::setFilterRules(QStringLiteral("saga.model.debug=false"));
    QFETCH(int, sequences);
    QFETCH(int, ordersPerModel);
    QFETCH(quint32, seed);
    QFETCH(int, maxBatch);

    std::mt19937 rng(seed);
    int totalOrders = 0;
    int totalBatches = 0;
    for (int round = 0; totalOrders < sequences; ++round) {
        OrderTreeModel model;
        model.setClock([] { return baseTime().addSecs(5); });
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
        QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
        QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
        QSignalSpy rejected(&model, &OrderTreeModel::eventRejected);
        QVERIFY(reset.isValid());
        QVERIFY(removed.isValid());
        QVERIFY(rejected.isValid());
        const int orders = std::min(ordersPerModel, sequences - totalOrders);
        EventStream stream(orders, seed * 7919u + quint32(round), quint32(round) * 100000u);
        int batches = 0;
        const auto delivered = runStream(model, stream, rng, maxBatch, 1, &batches);
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(reset.count(), 0);
        QCOMPARE(removed.count(), 0);
        QCOMPARE(model.orderCount(), orders);
        QCOMPARE(rejected.count(), stream.injectedRejections());
        verifyFinalStates(model, delivered);
        totalOrders += orders;
        totalBatches += batches;
    }
    QCOMPARE(totalOrders, sequences);
    QVERIFY(totalBatches > sequences / ordersPerModel);
}

// One model with all 10,000 orders: the same signal checks at scale (cells in one
// batch of ten); the tester checks the final tree once (it walks every index).
void tst_OrderTreeModel::largeModel()
{
    QLoggingCategory::setFilterRules(QStringLiteral("saga.model.debug=false"));
    OrderTreeModel model;
    model.setClock([] { return baseTime().addSecs(5); });
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    QSignalSpy rejected(&model, &OrderTreeModel::eventRejected);
    QVERIFY(reset.isValid());
    QVERIFY(rejected.isValid());
    EventStream stream(10000, 42, 0);
    std::mt19937 rng(42);
    int batches = 0;
    const auto delivered = runStream(model, stream, rng, 400, 10, &batches);
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(reset.count(), 0);
    QCOMPARE(model.orderCount(), 10000);
    QCOMPARE(rejected.count(), stream.injectedRejections());
    QVERIFY(batches > 100);
    verifyFinalStates(model, delivered);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
}

QTEST_MAIN(tst_OrderTreeModel)
#include "tst_ordertreemodel.moc"
