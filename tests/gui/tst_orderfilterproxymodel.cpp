// Search, status filter and sorting of the order tree; live updates keep the
// selection and the expanded rows.

#include "guitesthelpers.h"
#include "orderfilterproxymodel.h"
#include "ordertreemodel.h"

#include <QAbstractItemModelTester>
#include <QIdentityProxyModel>
#include <QItemSelectionModel>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QTest>
#include <QTreeView>

using namespace SagaScenarios;

namespace {
QVector<OrderEvent> orderEvents(Kind kind, const QUuid &id, int number, int count = -1)
{
    Builder b(id, baseTime().addSecs(number));
    b.started(1, QStringLiteral("ORD-20240110-%1").arg(number, 6, 10, QLatin1Char('0')));
    QVector<OrderEvent> all;
    {
        Builder full(id, baseTime().addSecs(number));
        appendKind(full, kind);
        all = full.events();
    }
    all[0] = b.events().first();
    if (count >= 0)
        all.resize(count);
    return all;
}
} // namespace

class tst_OrderFilterProxyModel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void searchMatchesIdNumberAndCustomer_data();
    void searchMatchesIdNumberAndCustomer();
    void searchMatchesStatusAndFailureAndFollowsThem();
    void statusFilterFollowsLiveChanges();
    void sortsByAnyColumnAndKeepsStepsInOrder();
    void liveUpdatesKeepSelectionAndExpansion();
    void hasChildrenAgreesWithRowCount();
    void orderNumberSortMatchesTheGenericComparison();
    void statusOutsideTheEnumMatchesNoStatus_data();
    void statusOutsideTheEnumMatchesNoStatus();

private:
    std::unique_ptr<OrderTreeModel> m_model;
    std::unique_ptr<OrderFilterProxyModel> m_proxy;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
    std::unique_ptr<QAbstractItemModelTester> m_proxyTester;
    QVector<QUuid> m_ids;
};

void tst_OrderFilterProxyModel::init()
{
    m_model = std::make_unique<OrderTreeModel>();
    m_proxy = std::make_unique<OrderFilterProxyModel>();
    m_proxy->setSourceModel(m_model.get());
    m_tester = std::make_unique<QAbstractItemModelTester>(m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    m_proxyTester = std::make_unique<QAbstractItemModelTester>(m_proxy.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    m_ids.clear();
    const Kind kinds[] = {Kind::Success, Kind::PaymentFails, Kind::InventoryFails, Kind::ShippingFails, Kind::Success};
    QVector<OrderEvent> events;
    for (int i = 0; i < 5; ++i) {
        m_ids << QUuid::createUuid();
        events += orderEvents(kinds[i], m_ids.last(), i + 1);
    }
    m_model->applyEvents(events);
    QCOMPARE(m_model->orderCount(), 5);
}

void tst_OrderFilterProxyModel::cleanup()
{
    m_proxyTester.reset();
    m_tester.reset();
    m_proxy.reset();
    m_model.reset();
}

void tst_OrderFilterProxyModel::searchMatchesIdNumberAndCustomer_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<int>("expected");
    QTest::newRow("empty") << QString() << 5;
    QTest::newRow("order number") << "ORD-20240110-000003" << 1;
    QTest::newRow("number, lower case, partial") << "ord-20240110-00000" << 5;
    QTest::newRow("customer") << "11111111-2222" << 5;
    QTest::newRow("nothing") << "no-such-order" << 0;
}

void tst_OrderFilterProxyModel::searchMatchesIdNumberAndCustomer()
{
    QFETCH(QString, text);
    QFETCH(int, expected);
    m_proxy->setSearchText(text);
    QCOMPARE(m_proxy->rowCount(), expected);
    // Steps stay with a matching order.
    for (int r = 0; r < m_proxy->rowCount(); ++r)
        QCOMPARE(m_proxy->rowCount(m_proxy->index(r, 0)), kStepCount);

    // An order id (the first 8 characters are enough).
    m_proxy->setSearchText(m_ids.at(1).toString(QUuid::WithoutBraces).left(8));
    QCOMPARE(m_proxy->rowCount(), 1);
    QCOMPARE(m_proxy->index(0, 0).data(OrderTreeModel::OrderIdRole).toUuid(), m_ids.at(1));
}

// Support searches by what went wrong: the status, the failure code and its
// message. A failure arrives before the status changes (STEP_FAILED leaves the
// order IN_PROGRESS) and a retry clears it: the row is re-filtered each time.
void tst_OrderFilterProxyModel::searchMatchesStatusAndFailureAndFollowsThem()
{
    m_proxy->setSearchText(QStringLiteral("rolled_back"));
    QCOMPARE(m_proxy->rowCount(), 2);
    m_proxy->setSearchText(QStringLiteral("postal code 00000"));
    QCOMPARE(m_proxy->rowCount(), 1);
    QCOMPARE(m_proxy->index(0, 0).data(OrderTreeModel::OrderIdRole).toUuid(), m_ids.at(3));
    m_proxy->setSearchText(QStringLiteral("payment_declined"));
    QCOMPARE(m_proxy->rowCount(), 1);
    QCOMPARE(m_proxy->index(0, 0).data(OrderTreeModel::OrderIdRole).toUuid(), m_ids.at(1));

    const QUuid id = QUuid::createUuid();
    const QVector<OrderEvent> all = orderEvents(Kind::RetryThenSuccess, id, 6);
    QCOMPARE(int(all.at(4).type), int(EventType::StepFailed));
    m_model->applyEvents(all.mid(0, 4));
    QCOMPARE(m_proxy->rowCount(), 1);
    m_model->applyEvents(all.mid(4, 1));
    QCOMPARE(m_model->indexOf(id).data(OrderTreeModel::RawStatusRole).toInt(), int(OverallStatus::InProgress));
    QCOMPARE(m_proxy->rowCount(), 2);
    for (int r = 0; r < m_proxy->rowCount(); ++r)
        QCOMPARE(m_proxy->rowCount(m_proxy->index(r, 0)), kStepCount);

    int retry = 1;
    while (all.at(retry).type != EventType::SagaStarted)
        ++retry;
    m_model->applyEvents(all.mid(5, retry - 5));
    QCOMPARE(m_proxy->rowCount(), 2);
    m_model->applyEvents(all.mid(retry, 1)); // the retry starts: its failure is cleared
    QCOMPARE(m_proxy->rowCount(), 1);
    m_proxy->setSearchText(QStringLiteral("queued"));
    QCOMPARE(m_proxy->rowCount(), 1);
    m_model->applyEvents(all.mid(retry + 1)); // and completes
    QCOMPARE(m_proxy->rowCount(), 0);
}

void tst_OrderFilterProxyModel::statusFilterFollowsLiveChanges()
{
    m_proxy->setStatusMask(OrderFilterProxyModel::bit(OverallStatus::RolledBack));
    QCOMPARE(m_proxy->rowCount(), 2);
    m_proxy->setStatusMask(OrderFilterProxyModel::bit(OverallStatus::InProgress));
    QCOMPARE(m_proxy->rowCount(), 0);

    // A new order appears while IN_PROGRESS, then leaves the filter when it completes.
    const QUuid id = QUuid::createUuid();
    const QVector<OrderEvent> all = orderEvents(Kind::Success, id, 6);
    m_model->applyEvents(all.mid(0, 2));
    QCOMPARE(m_proxy->rowCount(), 1);
    QCOMPARE(m_proxy->rowCount(m_proxy->index(0, 0)), kStepCount);
    m_model->applyEvents(all.mid(2));
    QCOMPARE(m_proxy->rowCount(), 0);
    m_proxy->setStatusMask(OrderFilterProxyModel::kAllStatuses);
    QCOMPARE(m_proxy->rowCount(), 6);
}

void tst_OrderFilterProxyModel::sortsByAnyColumnAndKeepsStepsInOrder()
{
    for (int column = 0; column < OrderTreeModel::ColumnCount; ++column) {
        for (Qt::SortOrder order : {Qt::AscendingOrder, Qt::DescendingOrder}) {
            m_proxy->sort(column, order);
            QCOMPARE(m_proxy->rowCount(), 5);
            for (int r = 0; r < m_proxy->rowCount(); ++r) {
                const QModelIndex parent = m_proxy->index(r, 0);
                for (int s = 0; s < kStepCount; ++s)
                    QCOMPARE(m_proxy->index(s, 0, parent).data(OrderTreeModel::StepRole).toInt(), s);
            }
        }
    }
    m_proxy->sort(OrderTreeModel::OrderNumberColumn, Qt::DescendingOrder);
    QCOMPARE(m_proxy->index(0, 0).data().toString(), QStringLiteral("ORD-20240110-000005"));
    m_proxy->sort(OrderTreeModel::StatusColumn, Qt::AscendingOrder);
    QCOMPARE(m_proxy->index(0, OrderTreeModel::StatusColumn).data().toString(), QStringLiteral("COMPLETED"));
}

void tst_OrderFilterProxyModel::liveUpdatesKeepSelectionAndExpansion()
{
    QTreeView view;
    view.setModel(m_proxy.get());
    view.setSortingEnabled(true);
    view.sortByColumn(OrderTreeModel::LastUpdatedColumn, Qt::DescendingOrder);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));

    // A running order, selected (on its payment step) and expanded.
    const QUuid id = QUuid::createUuid();
    const QVector<OrderEvent> all = orderEvents(Kind::ShippingFails, id, 7);
    m_model->applyEvents(all.mid(0, 4));
    const QModelIndex order = m_proxy->mapFromSource(m_model->indexOf(id));
    QVERIFY(order.isValid());
    view.expand(order);
    const QModelIndex payment = m_proxy->index(int(SagaStep::Payment), 0, order);
    view.selectionModel()->setCurrentIndex(payment, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    QSignalSpy reset(m_proxy.get(), &QAbstractItemModel::modelReset);
    QVERIFY(reset.isValid());
    QSignalSpy sourceReset(m_model.get(), &QAbstractItemModel::modelReset);

    // Other orders arrive and this one moves on to compensation, event by event.
    for (int i = 4; i < all.size(); ++i) {
        m_model->applyEvents({all.at(i)});
        m_model->applyEvents(orderEvents(Kind::Success, QUuid::createUuid(), 100 + i, 3));
        const QModelIndex current = view.selectionModel()->currentIndex();
        QVERIFY(current.isValid());
        QCOMPARE(current.data(OrderTreeModel::OrderIdRole).toUuid(), id);
        QCOMPARE(current.data(OrderTreeModel::StepRole).toInt(), int(SagaStep::Payment));
        QVERIFY(view.isExpanded(current.parent()));
    }
    QCOMPARE(reset.count(), 0);
    QCOMPARE(sourceReset.count(), 0);
    const QModelIndex finalOrder = m_proxy->mapFromSource(m_model->indexOf(id, OrderTreeModel::StatusColumn));
    QCOMPARE(finalOrder.data().toString(), QStringLiteral("ROLLED_BACK"));
}

void tst_OrderFilterProxyModel::statusOutsideTheEnumMatchesNoStatus_data()
{
    using P = OrderFilterProxyModel;
    QTest::addColumn<uint>("mask");
    QTest::addColumn<QStringList>("shown");
    const QStringList all{"queued", "failed", "6", "32", "33", "100", "-1", "-32", "none"};
    QTest::newRow("no status filter") << uint(P::kAllStatuses) << all;
    QTest::newRow("QUEUED") << uint(P::bit(OverallStatus::Queued)) << QStringList{"queued"};
    QTest::newRow("IN_PROGRESS") << uint(P::bit(OverallStatus::InProgress)) << QStringList{};
    QTest::newRow("FAILED, ROLLED_BACK") << uint(P::bit(OverallStatus::Failed) | P::bit(OverallStatus::RolledBack))
                                         << QStringList{"failed"};
    QTest::newRow("all but FAILED") << uint(P::kAllStatuses & ~P::bit(OverallStatus::Failed))
                                    << QStringList{"queued"};
}

// The status filter shifted a bit by the row's raw status without a range check
// (`1u << status`): undefined for a value outside the enum, and on x86 the shift
// wraps, so an order with status 32 or -32 (and one without a status, read as 0)
// showed under QUEUED, 33 under IN_PROGRESS. OrderTreeModel holds known statuses
// only, but the proxy takes any source model's RawStatusRole (a newer server's
// status, as a number): a value outside the enum, or none, matches no specific
// status, and is shown while no status filter is set.
void tst_OrderFilterProxyModel::statusOutsideTheEnumMatchesNoStatus()
{
    QFETCH(uint, mask);
    QFETCH(QStringList, shown);
    QStandardItemModel source;
    const QList<QPair<QString, QVariant>> rows{{"queued", int(OverallStatus::Queued)},
                                               {"failed", int(OverallStatus::Failed)},
                                               {"6", kOverallStatusCount},
                                               {"32", 32},
                                               {"33", 33},
                                               {"100", 100},
                                               {"-1", -1},
                                               {"-32", -32},
                                               {"none", QVariant()}};
    for (const auto &[name, status] : rows) {
        auto *item = new QStandardItem(name);
        if (status.isValid())
            item->setData(status, OrderTreeModel::RawStatusRole);
        source.appendRow(item); // owned by the model
    }
    OrderFilterProxyModel proxy;
    proxy.setSourceModel(&source);
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.setStatusMask(OrderFilterProxyModel::StatusMask(mask));
    QStringList names;
    for (int r = 0; r < proxy.rowCount(); ++r)
        names << proxy.index(r, 0).data().toString();
    QCOMPARE(names, shown);
}

QTEST_MAIN(tst_OrderFilterProxyModel)
#include "tst_orderfilterproxymodel.moc"

// hasChildren answers without building the proxy's child mapping of each order;
// it must still agree with rowCount everywhere, under any filter, and a view must
// show the expand decoration exactly for orders.
void tst_OrderFilterProxyModel::hasChildrenAgreesWithRowCount()
{
    QTreeView view;
    view.setModel(m_proxy.get());
    view.setUniformRowHeights(true);
    const auto check = [this] {
        QVERIFY(m_proxy->hasChildren() == (m_proxy->rowCount() > 0));
        for (int r = 0; r < m_proxy->rowCount(); ++r) {
            for (int c = 0; c < m_proxy->columnCount(); ++c) {
                const QModelIndex cell = m_proxy->index(r, c);
                QCOMPARE(m_proxy->hasChildren(cell), m_proxy->rowCount(cell) > 0);
            }
            const QModelIndex order = m_proxy->index(r, 0);
            QVERIFY(m_proxy->hasChildren(order));
            QCOMPARE(m_proxy->rowCount(order), kStepCount);
            for (int s = 0; s < kStepCount; ++s) {
                QVERIFY(!m_proxy->hasChildren(m_proxy->index(s, 0, order)));
                QCOMPARE(m_proxy->rowCount(m_proxy->index(s, 0, order)), 0);
            }
        }
    };
    check();
    m_proxy->setStatusMask(OrderFilterProxyModel::bit(OverallStatus::RolledBack));
    QCOMPARE(m_proxy->rowCount(), 2);
    check();
    m_proxy->setSearchText(QStringLiteral("no such order"));
    QCOMPARE(m_proxy->rowCount(), 0);
    QVERIFY(!m_proxy->hasChildren());
    m_proxy->setSearchText(QString());
    m_proxy->setStatusMask(OrderFilterProxyModel::kAllStatuses);
    check();
    // Expanding an order shows its three steps in the view.
    const QModelIndex first = m_proxy->index(0, 0);
    view.expand(first);
    QVERIFY(view.isExpanded(first));
    QCOMPARE(view.visualRect(m_proxy->index(2, 0, first)).isValid(), true);
}

// Sorting by order number (the default sort, redone for every chunk of a large
// load) reads the text straight from OrderTreeModel. It must order exactly as
// the generic SortRole comparison does. The reference is the same proxy over an
// identity proxy (a source that is not an OrderTreeModel takes the generic
// path). Numbers that differ only in case, non-ASCII, a duplicate, orders
// without a number yet (shown and sorted by their id), inserted in two chunks
// as the initial load does, both directions.
void tst_OrderFilterProxyModel::orderNumberSortMatchesTheGenericComparison()
{
    OrderTreeModel model;
    QIdentityProxyModel identity;
    identity.setSourceModel(&model);
    OrderFilterProxyModel direct;
    direct.setSourceModel(&model);
    OrderFilterProxyModel generic;
    generic.setSourceModel(&identity);
    direct.sort(OrderTreeModel::OrderNumberColumn, Qt::DescendingOrder);
    generic.sort(OrderTreeModel::OrderNumberColumn, Qt::DescendingOrder);

    const QStringList numbers{QStringLiteral("ORD-20240110-000010"), QStringLiteral("ord-20240110-000009"),
                              QStringLiteral("ORD-20240110-00001"),  QString(),
                              QStringLiteral("\u00c4-1"),           QStringLiteral("ORD-20240110-000010"),
                              QStringLiteral("Z"),                   QStringLiteral("a"),
                              QString(),                             QStringLiteral("\u00ff"),
                              QStringLiteral("\U0001F600"),         QStringLiteral("ORD-20240110-000002")};
    QVector<OrderProgress> snapshots;
    for (const QString &number : numbers) {
        OrderProgress p(QUuid::createUuid());
        p.orderNumber = number;
        snapshots.append(p);
    }
    model.loadSnapshots(snapshots.mid(0, 5));
    model.loadSnapshots(snapshots.mid(5));
    QCOMPARE(model.orderCount(), int(numbers.size()));

    const auto sameOrder = [&](Qt::SortOrder order) {
        QCOMPARE(direct.rowCount(), int(numbers.size()));
        QCOMPARE(generic.rowCount(), int(numbers.size()));
        for (int r = 0; r < direct.rowCount(); ++r) {
            QCOMPARE(direct.index(r, 0).data(OrderTreeModel::OrderIdRole).toUuid(),
                     generic.index(r, 0).data(OrderTreeModel::OrderIdRole).toUuid());
            if (r == 0)
                continue;
            // ... and sorted by the text shown (case-sensitive, UTF-16 code units)
            const QString before = direct.index(r - 1, 0).data().toString();
            const QString here = direct.index(r, 0).data().toString();
            QVERIFY2(order == Qt::AscendingOrder ? !(here < before) : !(before < here), qPrintable(before + " / " + here));
        }
    };
    sameOrder(Qt::DescendingOrder);
    QCOMPARE(direct.index(0, 0).data().toString(), QStringLiteral("\U0001F600"));
    direct.sort(OrderTreeModel::OrderNumberColumn, Qt::AscendingOrder);
    generic.sort(OrderTreeModel::OrderNumberColumn, Qt::AscendingOrder);
    sameOrder(Qt::AscendingOrder);
}
