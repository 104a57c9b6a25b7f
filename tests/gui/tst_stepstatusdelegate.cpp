// Scripted event sequences produce the right icons and texts in the order tree.

#include "guitesthelpers.h"
#include "orderfilterproxymodel.h"
#include "ordertreemodel.h"
#include "statusicons.h"
#include "stepstatusdelegate.h"

#include <QAbstractItemModelTester>
#include <QPainter>
#include <QSignalSpy>
#include <QTest>
#include <QTreeView>

using namespace SagaScenarios;

class tst_StepStatusDelegate : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void iconsFollowEvents_data();
    void iconsFollowEvents();
    void everyIconExistsAndRenders();
    void paintsTheChosenIcon_data();
    void paintsTheChosenIcon();
    void highDpiPixmapsAreRenderedAtDevicePixels();
    void lateEtaIsPaintedInTheWarningColour();
};

void tst_StepStatusDelegate::iconsFollowEvents_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<int>("eventCount"); // -1: all
    QTest::addColumn<QString>("overallIcon");
    QTest::addColumn<QStringList>("strip");
    QTest::addColumn<QString>("statusText");

    QTest::newRow("queued") << int(Kind::Success) << 1 << "overall-queued"
                            << QStringList{"step-pending", "step-pending", "step-pending"} << "QUEUED";
    QTest::newRow("inventory running") << int(Kind::Success) << 2 << "overall-in-progress"
                                       << QStringList{"step-in-progress", "step-pending", "step-pending"}
                                       << "IN_PROGRESS";
    QTest::newRow("payment running") << int(Kind::Success) << 4 << "overall-in-progress"
                                     << QStringList{"step-completed", "step-in-progress", "step-pending"}
                                     << "IN_PROGRESS";
    QTest::newRow("completed") << int(Kind::Success) << -1 << "overall-completed"
                               << QStringList{"step-completed", "step-completed", "step-completed"} << "COMPLETED";
    QTest::newRow("inventory fails") << int(Kind::InventoryFails) << -1 << "overall-failed"
                                     << QStringList{"step-failed", "step-skipped", "step-skipped"} << "FAILED";
    // started, inv started, inv completed, pay started, pay failed, compensation started, inv compensating
    QTest::newRow("compensating") << int(Kind::PaymentFails) << 7 << "overall-rolling-back"
                                  << QStringList{"step-compensating", "step-failed", "step-skipped"}
                                  << "ROLLING_BACK";
    QTest::newRow("payment fails") << int(Kind::PaymentFails) << -1 << "overall-rolled-back"
                                   << QStringList{"step-compensated", "step-failed", "step-skipped"} << "ROLLED_BACK";
    QTest::newRow("shipping fails") << int(Kind::ShippingFails) << -1 << "overall-rolled-back"
                                    << QStringList{"step-compensated", "step-compensated", "step-failed"}
                                    << "ROLLED_BACK";
    QTest::newRow("compensation fails") << int(Kind::CompensationFails) << -1 << "overall-failed"
                                        << QStringList{"step-failed", "step-failed", "step-skipped"} << "FAILED";
    QTest::newRow("retried") << int(Kind::RetryThenSuccess) << -1 << "overall-completed"
                             << QStringList{"step-completed", "step-completed", "step-completed"} << "COMPLETED";
}

void tst_StepStatusDelegate::iconsFollowEvents()
{
    QFETCH(int, kind);
    QFETCH(int, eventCount);
    QFETCH(QString, overallIcon);
    QFETCH(QStringList, strip);
    QFETCH(QString, statusText);

    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    OrderFilterProxyModel proxy;
    proxy.setSourceModel(&model);
    QAbstractItemModelTester proxyTester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.sort(OrderTreeModel::OrderNumberColumn, Qt::DescendingOrder);
    QSignalSpy rejected(&model, &OrderTreeModel::eventRejected);
    QVERIFY(rejected.isValid());

    const QUuid id = QUuid::createUuid();
    QVector<OrderEvent> events = scenario(Kind(kind), id);
    if (eventCount >= 0)
        events.resize(eventCount);
    // One event at a time, as a live stream delivers them.
    for (const OrderEvent &e : std::as_const(events))
        model.applyEvents({e});
    QCOMPARE(rejected.count(), 0);

    const QModelIndex order = proxy.index(0, OrderTreeModel::StatusColumn);
    QCOMPARE(StepStatusDelegate::iconNameFor(order), overallIcon);
    QCOMPARE(order.data().toString(), statusText);
    QCOMPARE(StepStatusDelegate::stripIconNamesFor(order.siblingAtColumn(OrderTreeModel::ProgressColumn)), strip);
    QVERIFY(StepStatusDelegate::stripIconNamesFor(order).isEmpty()); // only the progress column has a strip
    const QModelIndex orderRow = proxy.index(0, 0);
    QCOMPARE(proxy.rowCount(orderRow), kStepCount);
    for (int s = 0; s < kStepCount; ++s) {
        const QModelIndex step = proxy.index(s, OrderTreeModel::StatusColumn, orderRow);
        QCOMPARE(StepStatusDelegate::iconNameFor(step), strip.at(s));
        QCOMPARE(step.siblingAtColumn(0).data().toString(), stepDisplayName(SagaStep(s)));
        QCOMPARE(QStringLiteral("step-") + step.data().toString().toLower().replace(QLatin1Char('_'), QLatin1Char('-')),
                 strip.at(s));
    }
}

void tst_StepStatusDelegate::everyIconExistsAndRenders()
{
    StatusIconCache cache;
    QStringList names;
    for (int s = 0; s < kStepStatusCount; ++s)
        names << StatusIcons::iconName(StepStatus(s));
    for (int s = 0; s < kOverallStatusCount; ++s)
        names << StatusIcons::iconName(OverallStatus(s));
    QCOMPARE(names.size(), 13);
    QCOMPARE(QSet<QString>(names.cbegin(), names.cend()).size(), 13); // one distinct icon per status
    for (const QString &name : std::as_const(names)) {
        QVERIFY2(QFile::exists(StatusIcons::resourcePath(name)), qPrintable(name));
        const QImage image = cache.pixmap(name, 16, 1.0).toImage();
        QCOMPARE(image.size(), QSize(16, 16));
        int opaque = 0;
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x)
                opaque += qAlpha(image.pixel(x, y)) > 128;
        QVERIFY2(opaque > 60, qPrintable(name)); // readable at 16 px: a solid shape, not a hairline
    }
}

void tst_StepStatusDelegate::paintsTheChosenIcon_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<QColor>("overallColor");
    QTest::addColumn<QColor>("inventoryColor");
    QTest::newRow("completed") << int(Kind::Success) << GuiTest::green() << GuiTest::green();
    QTest::newRow("rolled back") << int(Kind::PaymentFails) << GuiTest::purple() << GuiTest::purple();
    QTest::newRow("failed") << int(Kind::InventoryFails) << GuiTest::red() << GuiTest::red();
}

void tst_StepStatusDelegate::paintsTheChosenIcon()
{
    QFETCH(int, kind);
    QFETCH(QColor, overallColor);
    QFETCH(QColor, inventoryColor);

    OrderTreeModel model;
    model.applyEvents(scenario(Kind(kind), QUuid::createUuid()));
    QTreeView view;
    StepStatusDelegate delegate;
    view.setItemDelegate(&delegate);
    view.setModel(&model);
    view.resize(1000, 200);
    view.expandAll();
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));

    const QImage image = view.viewport()->grab().toImage();
    const QModelIndex status = model.index(0, OrderTreeModel::StatusColumn);
    const QRect statusIcon = StepStatusDelegate::statusIconRect(view.visualRect(status));
    QVERIFY(GuiTest::containsColor(image, statusIcon, overallColor));
    // The strip's first icon is the inventory step.
    const QRect firstStrip = StepStatusDelegate::stripIconRect(
        view.visualRect(model.index(0, OrderTreeModel::ProgressColumn)), 0);
    QVERIFY(GuiTest::containsColor(image, firstStrip, inventoryColor));
    // The expanded inventory row shows the same icon in its status column.
    const QModelIndex inventory = model.index(0, OrderTreeModel::StatusColumn, model.index(0, 0));
    QVERIFY(GuiTest::containsColor(image, StepStatusDelegate::statusIconRect(view.visualRect(inventory)),
                                   inventoryColor));
    // ...and nothing of that colour where no icon is drawn.
    const QRect customer = view.visualRect(model.index(0, OrderTreeModel::CustomerColumn));
    QVERIFY(!GuiTest::containsColor(image, customer, overallColor));
}

void tst_StepStatusDelegate::highDpiPixmapsAreRenderedAtDevicePixels()
{
    StatusIconCache cache;
    const QPixmap p = cache.pixmap(QStringLiteral("step-completed"), 16, 2.0);
    QCOMPARE(p.devicePixelRatio(), 2.0);
    QCOMPARE(p.size(), QSize(32, 32)); // drawn at 16 logical px, rendered at 32 device px
    QCOMPARE(cache.pixmap(QStringLiteral("step-completed"), 16, 2.0).cacheKey(), p.cacheKey()); // cached

    // Painting into a 2x image through the delegate uses that pixmap.
    OrderTreeModel model;
    model.applyEvents(scenario(Kind::Success, QUuid::createUuid()));
    StepStatusDelegate delegate;
    QImage image(400 * 2, 24 * 2, QImage::Format_ARGB32_Premultiplied);
    image.setDevicePixelRatio(2.0);
    image.fill(Qt::white);
    QPainter painter(&image);
    QStyleOptionViewItem option;
    option.rect = QRect(0, 0, 400, 24);
    option.palette = QPalette();
    delegate.paint(&painter, option, model.index(0, OrderTreeModel::StatusColumn));
    painter.end();
    QVERIFY(GuiTest::containsColor(image, QRect(QPoint(0, 0), StepStatusDelegate::statusIconRect(option.rect).bottomRight() * 2),
                                   GuiTest::green()));
}

void tst_StepStatusDelegate::lateEtaIsPaintedInTheWarningColour()
{
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    QVector<OrderEvent> events = scenario(Kind::Success, id, QDateTime::currentDateTimeUtc().addSecs(-3600));
    events.resize(2); // inventory running, started an hour ago
    model.applyEvents(events);
    const QModelIndex eta = model.index(0, OrderTreeModel::EtaColumn);
    QVERIFY(eta.data(OrderTreeModel::IsLateRole).toBool());
    QTreeView view;
    StepStatusDelegate delegate;
    view.setItemDelegate(&delegate);
    view.setModel(&model);
    view.resize(1200, 120);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    const QImage image = view.viewport()->grab().toImage();
    QVERIFY(!eta.data().toString().isEmpty());
    QVERIFY(GuiTest::containsColor(image, view.visualRect(eta), StepStatusDelegate::lateColor(), 60));
}

QTEST_MAIN(tst_StepStatusDelegate)
#include "tst_stepstatusdelegate.moc"
