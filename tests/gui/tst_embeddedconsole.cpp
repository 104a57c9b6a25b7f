// The embedded source on a temp SQLite file, driven through the console's
// widgets: the failure panel changes the engine's fault plan and a saga then
// compensates; retry is enabled only when the order is eligible; the main
// window loads existing orders and keeps the live model consistent.

#include "demotraffic.h"
#include "detailpanel.h"
#include "embeddedsource.h"
#include "enginehost.h"
#include "eventbatcher.h"
#include "failureinjectionpanel.h"
#include "guitesthelpers.h"
#include "mainwindow.h"
#include "orderfilterproxymodel.h"
#include "retrydialog.h"
#include "orderpresets.h"
#include "ordertreemodel.h"
#include "stepstatusdelegate.h"
#include "testservices.h"
#include "../unit/model/sagascenarios.h"
#include "sourcetesthelpers.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QDialog>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollBar>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTest>
#include <QTreeView>

namespace {
constexpr int kTimeout = 30000;

SourceSpec embeddedSpec(const QString &file)
{
    SourceSpec spec;
    spec.kind = SourceSpec::Kind::Embedded;
    spec.embeddedDatabase = *DatabaseUrl::parse(QStringLiteral("sqlite:") + file, nullptr);
    spec.stepDelayMs = 30;
    return spec;
}

EmbeddedSource *newSource(const QString &file, QObject *parent)
{
    EngineConfig config;
    config.database = *DatabaseUrl::parse(QStringLiteral("sqlite:") + file, nullptr);
    config.stepDelayMs = 30;
    config.retryCooldownSeconds = 0;
    return new EmbeddedSource(config, parent);
}

QUuid place(ProgressSource *source, const OrderRequest &request)
{
    QString error;
    const QUuid id = GuiTest::place(source, request, &error, kTimeout);
    if (!error.isEmpty())
        qWarning("placeOrder: %s", qPrintable(error));
    return id;
}

OverallStatus statusOf(const OrderTreeModel &model, const QUuid &id)
{
    const OrderProgress *p = model.order(id);
    return p ? p->overallStatus : OverallStatus::Queued;
}

// Sets `step`'s row of the panel to fail once with `code` (not applied yet).
void setOnceFailure(FailureInjectionPanel &panel, SagaStep step, const QString &code)
{
    QComboBox *kind = panel.kindCombo(step);
    kind->setCurrentIndex(kind->findData(int(StepFault::Kind::Fail)));
    panel.codeCombo(step)->setCurrentText(code);
    panel.onceCheck(step)->setChecked(true);
}

bool isTerminalIn(const OrderTreeModel &model, const QUuid &id)
{
    const OrderProgress *p = model.order(id);
    return p && p->isTerminal();
}
} // namespace

class tst_EmbeddedConsole : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void failurePanelMakesASagaCompensate();
    void failurePanelShowsAOnceFaultDisarmedAfterItFired();
    void retryEnabledOnlyWhenEligible();
    void compensationLeftUndoneIsAdvisedAsSuch();
    void mainWindowLoadsExistingOrdersAndStaysLive();
    void orderCountKeepsUpWithSteadyTraffic();
    void deletedDatabaseFileMakesTheViewStale();
    void demoSettingsOfTheCommandLineAreForThisRunOnly();
    void retriedOrderStaysTheOneShown();
    void otherEnginesOnTheFileAreFollowed();
    void placedOrdersFollowTheServersRules();
    void emptyTreeSaysWhyAndShortcutsAreListed();
    void rowsStayInPlaceWhileScrolledDown();
};

void tst_EmbeddedConsole::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
}

void tst_EmbeddedConsole::failurePanelMakesASagaCompensate()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/faults.sqlite");
    OrderTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    EventBatcher batcher(&model);
    EmbeddedSource *source = newSource(file, this);
    QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
    QSignalSpy states(source, &ProgressSource::connectionStateChanged);
    QVERIFY(loaded.isValid() && states.isValid());
    connect(source, &ProgressSource::snapshotsReady, &batcher, &EventBatcher::addSnapshots);
    connect(source, &ProgressSource::eventsReady, &batcher, &EventBatcher::addEvents);
    source->start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QCOMPARE(source->state(), ProgressSource::State::Live);
    QVERIFY(source->canInjectFaults() && source->canPlaceOrders() && source->canRetry());

    FailureInjectionPanel panel;
    panel.setSource(source);
    QVERIFY(panel.kindCombo(SagaStep::Shipping)->isEnabled());
    QVERIFY(!panel.applyButton()->isEnabled()); // nothing to apply until a row is changed
    // Shipping fails with a chosen code, once.
    QSignalSpy applied(&panel, &FailureInjectionPanel::applied);
    QVERIFY(applied.isValid());
    setOnceFailure(panel, SagaStep::Shipping, QStringLiteral("SHIPPING_UNAVAILABLE"));
    QVERIFY(panel.applyButton()->isEnabled());
    QTest::mouseClick(panel.applyButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kTimeout);
    const FaultPlan plan = source->engine()->faultPlan();
    QCOMPARE(toString(plan[SagaStep::Shipping].kind), toString(StepFault::Kind::Fail));
    QCOMPARE(plan[SagaStep::Shipping].errorCode, QStringLiteral("SHIPPING_UNAVAILABLE"));
    QVERIFY(plan[SagaStep::Shipping].once);
    QCOMPARE(toString(plan[SagaStep::Payment].kind), toString(StepFault::Kind::None));

    // A happy-path order now compensates: payment voided, inventory released.
    const QUuid failing = place(source, OrderPresets::make(OrderPreset::HappyPath));
    QVERIFY(!failing.isNull());
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(model, failing), kTimeout);
    QCOMPARE(toString(statusOf(model, failing)), toString(OverallStatus::RolledBack));
    const QModelIndex row = model.indexOf(failing);
    QCOMPARE(StepStatusDelegate::iconNameFor(row.siblingAtColumn(OrderTreeModel::StatusColumn)),
             QStringLiteral("overall-rolled-back"));
    QCOMPARE(StepStatusDelegate::stripIconNamesFor(row.siblingAtColumn(OrderTreeModel::ProgressColumn)),
             (QStringList{"step-compensated", "step-compensated", "step-failed"}));
    QCOMPARE(model.order(failing)->failure.code, QStringLiteral("SHIPPING_UNAVAILABLE"));

    // Once: the next order goes through.
    const QUuid fine = place(source, OrderPresets::make(OrderPreset::HappyPath));
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(model, fine), kTimeout);
    QCOMPARE(toString(statusOf(model, fine)), toString(OverallStatus::Completed));

    // Clearing the panel clears the engine's plan.
    panel.clearAll();
    QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 2, kTimeout);
    QVERIFY(source->engine()->faultPlan().isEmpty());

    // The engine's own codes are not offered, and one typed in is refused as
    // saga-server refuses it, naming the field; the engine's plan stays as it was.
    for (SagaStep step : kAllSteps) {
        QCOMPARE(panel.codeCombo(step)->findText(QStringLiteral("COMPENSATION_FAILED")), -1);
        QCOMPARE(panel.codeCombo(step)->findText(QStringLiteral("STEP_TIMEOUT")), -1);
    }
    QCOMPARE(panel.codeCombo(SagaStep::Shipping)->findText(QStringLiteral("FRAUD_DETECTED")), -1);
    setOnceFailure(panel, SagaStep::Shipping, QStringLiteral("COMPENSATION_FAILED"));
    QTest::mouseClick(panel.applyButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(panel.statusText().contains(QLatin1String("steps.Shipping Arrangement.errorCode")), kTimeout);
    QVERIFY2(panel.statusText().contains(QLatin1String("COMPENSATION_FAILED is the engine's own code")),
             qPrintable(panel.statusText()));
    QCOMPARE(applied.count(), 2);
    QVERIFY(source->engine()->faultPlan().isEmpty());
    QVERIFY(panel.applyButton()->isEnabled()); // the edit is still there to correct
}

// The QA report: Payment fails once with PAYMENT_DECLINED; after the first order
// hit it, the panel shows what the engine has (no fault) instead of the fault
// still armed with "the next orders will hit it". A row being edited and not
// applied is left as the user has it.
void tst_EmbeddedConsole::failurePanelShowsAOnceFaultDisarmedAfterItFired()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/once.sqlite");
    OrderTreeModel model;
    EventBatcher batcher(&model);
    EmbeddedSource *source = newSource(file, this);
    QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
    QVERIFY(loaded.isValid());
    connect(source, &ProgressSource::snapshotsReady, &batcher, &EventBatcher::addSnapshots);
    connect(source, &ProgressSource::eventsReady, &batcher, &EventBatcher::addEvents);
    source->start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);

    FailureInjectionPanel panel;
    panel.setSource(source);
    QCoreApplication::processEvents(); // the panel has read the engine's (empty) plan
    QSignalSpy applied(&panel, &FailureInjectionPanel::applied);
    QVERIFY(applied.isValid());
    setOnceFailure(panel, SagaStep::Payment, QStringLiteral("PAYMENT_DECLINED"));
    QComboBox *payment = panel.kindCombo(SagaStep::Payment);
    QTest::mouseClick(panel.applyButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kTimeout);
    QVERIFY2(panel.statusText().contains(QLatin1String("next orders will hit it")), qPrintable(panel.statusText()));

    // Being edited, not applied: a delay on Shipping.
    QComboBox *shipping = panel.kindCombo(SagaStep::Shipping);
    shipping->setCurrentIndex(shipping->findData(int(StepFault::Kind::Delay)));

    const QUuid first = place(source, OrderPresets::make(OrderPreset::HappyPath));
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(model, first), kTimeout);
    QCOMPARE(toString(statusOf(model, first)), toString(OverallStatus::RolledBack));
    QCOMPARE(model.order(first)->failure.code, QStringLiteral("PAYMENT_DECLINED"));
    QVERIFY(source->engine()->faultPlan().isEmpty()); // the engine disarmed it

    QTRY_COMPARE_WITH_TIMEOUT(payment->currentData().toInt(), int(StepFault::Kind::None), kTimeout);
    QVERIFY2(!panel.statusText().contains(QLatin1String("next orders will hit it")), qPrintable(panel.statusText()));
    QVERIFY2(panel.statusText().contains(QLatin1String("Payment Processing")), qPrintable(panel.statusText()));
    QVERIFY2(panel.statusText().contains(QLatin1String("disarmed")), qPrintable(panel.statusText()));
    QCOMPARE(shipping->currentData().toInt(), int(StepFault::Kind::Delay)); // the user's edit stays

    const QUuid second = place(source, OrderPresets::make(OrderPreset::HappyPath));
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(model, second), kTimeout);
    QCOMPARE(toString(statusOf(model, second)), toString(OverallStatus::Completed));
    QCOMPARE(payment->currentData().toInt(), int(StepFault::Kind::None));
    QCOMPARE(applied.count(), 1); // nothing was applied behind the user's back
}

void tst_EmbeddedConsole::retryEnabledOnlyWhenEligible()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/retry.sqlite");
    OrderTreeModel model;
    EventBatcher batcher(&model);
    EmbeddedSource *source = newSource(file, this);
    QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
    connect(source, &ProgressSource::snapshotsReady, &batcher, &EventBatcher::addSnapshots);
    connect(source, &ProgressSource::eventsReady, &batcher, &EventBatcher::addEvents);
    source->start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);

    DetailPanel panel(&model);
    panel.setSource(source);
    panel.show();

    // Fraud: not retryable, the button stays disabled and the panel says why.
    const QUuid fraud = place(source, OrderPresets::make(OrderPreset::Fraud));
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(model, fraud), kTimeout);
    panel.setOrder(fraud);
    QTRY_VERIFY_WITH_TIMEOUT(panel.isEligibilityKnown() && !panel.eligibilityText().isEmpty()
                                 && !panel.eligibilityText().startsWith(QLatin1String("Checking")),
                             kTimeout);
    QVERIFY(!panel.retryButton()->isEnabled());
    QVERIFY2(panel.failureText().contains(QLatin1String("FRAUD_DETECTED")), qPrintable(panel.failureText()));

    // Declined card: retryable after updating the payment method.
    const QUuid declined = place(source, OrderPresets::make(OrderPreset::DeclinedCard));
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(model, declined), kTimeout);
    QCOMPARE(toString(statusOf(model, declined)), toString(OverallStatus::RolledBack));
    panel.setOrder(declined);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    QVERIFY2(panel.failureText().contains(QLatin1String("PAYMENT_DECLINED")), qPrintable(panel.failureText()));
    QVERIFY(panel.failureText().contains(QLatin1String("What to do")));

    // A completed order: never retryable.
    const QUuid happy = place(source, OrderPresets::make(OrderPreset::HappyPath));
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(model, happy), kTimeout);
    panel.setOrder(happy);
    QTRY_VERIFY_WITH_TIMEOUT(panel.isEligibilityKnown(), kTimeout);
    QVERIFY(!panel.retryButton()->isEnabled());

    // Retry the declined order with a corrected payment method (what the dialog sends).
    panel.setOrder(declined);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    RetryRequest request;
    request.orderId = declined;
    request.paymentMethodId = QStringLiteral("pm-visa-4242");
    RetryDecision decision;
    bool answered = false;
    source->retry(request, this, [&](RetryDecision d) {
        decision = d;
        answered = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, kTimeout);
    QCOMPARE(int(decision.code), int(RetryDecision::Accepted));
    QTRY_COMPARE_WITH_TIMEOUT(toString(statusOf(model, declined)), toString(OverallStatus::Completed), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(!panel.retryButton()->isEnabled(), kTimeout);

    // The case file holds the history and the raw events of both attempts.
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded() && panel.orderCase().history.executionCount() == 2, kTimeout);
    const QJsonObject caseFile = QJsonDocument::fromJson(panel.caseFileJson()).object();
    QCOMPARE(caseFile.value(QLatin1String("status")).toObject().value(QLatin1String("overallStatus")).toString(),
             QStringLiteral("COMPLETED"));
    QVERIFY(caseFile.value(QLatin1String("events")).toArray().size() > 10);
    QVERIFY(caseFile.value(QLatin1String("history")).toObject().value(QLatin1String("timeline")).toArray().size() > 3);
    const QString path = TestServices::tempDir() + QStringLiteral("/case.json");
    QString error;
    QVERIFY2(panel.exportCaseTo(path, &error), qPrintable(error));
    QVERIFY(QFile::exists(path));
    QVERIFY(panel.statusJson().contains(QLatin1String("\"overallStatus\": \"COMPLETED\"")));
}

// An order whose compensation gave up is not retryable: the panel's advice says what
// is left to reverse by hand instead of the failure's own "update ... and retry".
void tst_EmbeddedConsole::compensationLeftUndoneIsAdvisedAsSuch()
{
    OrderTreeModel model;
    const QUuid undone = QUuid::createUuid();
    const QUuid declined = QUuid::createUuid();
    model.applyEvents(SagaScenarios::scenario(SagaScenarios::Kind::CompensationFails, undone));
    model.applyEvents(SagaScenarios::scenario(SagaScenarios::Kind::PaymentFails, declined));
    DetailPanel panel(&model);
    panel.show();

    panel.setOrder(declined);
    QVERIFY2(panel.failureText().contains(QLatin1String("Update your payment method")), qPrintable(panel.failureText()));

    panel.setOrder(undone);
    QTRY_VERIFY(!panel.failureText().isEmpty());
    const QString text = panel.failureText();
    QVERIFY2(text.contains(QLatin1String("PAYMENT_DECLINED")), qPrintable(text)); // what failed first
    QVERIFY2(text.contains(QLatin1String("Inventory Reservation could not be reversed")), qPrintable(text));
    QVERIFY2(text.contains(QLatin1String("cannot be retried")), qPrintable(text));
    QVERIFY2(!text.contains(QLatin1String("retry the order")), qPrintable(text));
}

void tst_EmbeddedConsole::mainWindowLoadsExistingOrdersAndStaysLive()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/window.sqlite");
    QVector<QUuid> ids;
    {
        // Orders that exist before the window opens.
        OrderTreeModel model;
        EventBatcher batcher(&model);
        EmbeddedSource *source = newSource(file, nullptr);
        std::unique_ptr<EmbeddedSource> owner(source);
        QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
        connect(source, &ProgressSource::eventsReady, &batcher, &EventBatcher::addEvents);
        source->start();
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
        for (OrderPreset p : {OrderPreset::HappyPath, OrderPreset::OutOfStock, OrderPreset::InvalidAddress})
            ids << place(source, OrderPresets::make(p));
        QTRY_VERIFY_WITH_TIMEOUT(std::all_of(ids.cbegin(), ids.cend(), [&](const QUuid &id) { return isTerminalIn(model, id); }),
                                 kTimeout);
    }

    MainWindow window;
    QAbstractItemModelTester tester(window.model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester proxyTester(window.proxyModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    EmbeddedSource *source = newSource(file, nullptr);
    QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
    window.setSource(source, embeddedSpec(file));
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->orderCount(), 3, kTimeout);
    // The ETA estimator starts from the stored step history: inventory and payment
    // finished in the happy and the invalid-address order, shipping only in the
    // happy one (failed steps have no duration).
    QCOMPARE(window.model()->eta().sampleCount(SagaStep::Inventory), 2);
    QCOMPARE(window.model()->eta().sampleCount(SagaStep::Payment), 2);
    QCOMPARE(window.model()->eta().sampleCount(SagaStep::Shipping), 1);
    QCOMPARE(toString(statusOf(*window.model(), ids.at(0))), toString(OverallStatus::Completed));
    QCOMPARE(toString(statusOf(*window.model(), ids.at(1))), toString(OverallStatus::Failed));
    QCOMPARE(toString(statusOf(*window.model(), ids.at(2))), toString(OverallStatus::RolledBack));
    QVERIFY(window.connectionText().contains(QLatin1String("Embedded engine running")));

    // Select and expand the rolled-back order; new orders keep it selected and expanded.
    QVERIFY(window.selectFirstOrderWithStatus(OverallStatus::RolledBack, true));
    QModelIndex current = window.treeView()->currentIndex();
    QCOMPARE(current.data(OrderTreeModel::OrderIdRole).toUuid(), ids.at(2));
    QCOMPARE(window.detailPanel()->orderId(), ids.at(2));
    QVERIFY(window.treeView()->isExpanded(current));
    // The case actions are on screen without scrolling (a compensated order has
    // the longest detail page: failure box, retry row, history), at 1400x900 and
    // in a window too low for the whole page (as low as it goes: about 580 px,
    // the charts dock keeps the height its labels need).
    const int low = qMax(560, window.minimumSizeHint().height());
    for (const QSize size : {QSize(1400, 900), QSize(1400, low)}) {
        window.resize(size);
        QTRY_COMPARE(window.size(), size);
        QCoreApplication::processEvents();
        for (QPushButton *button : {window.detailPanel()->copyButton(), window.detailPanel()->exportButton()}) {
            QTRY_VERIFY(button->isEnabled());
            QVERIFY(button->isVisible());
            QCOMPARE(button->visibleRegion().boundingRect(), button->rect());
            const QRect inWindow(button->mapTo(&window, QPoint(0, 0)), button->size());
            QVERIFY(window.rect().contains(inWindow));
        }
    }
    window.resize(1400, 900);
    QSignalSpy rejected(window.model(), &OrderTreeModel::eventRejected);
    const QUuid live = place(source, OrderPresets::make(OrderPreset::HappyPath));
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(*window.model(), live), kTimeout);
    QCOMPARE(rejected.count(), 0);
    current = window.treeView()->currentIndex();
    QCOMPARE(current.data(OrderTreeModel::OrderIdRole).toUuid(), ids.at(2));
    QVERIFY(window.treeView()->isExpanded(current));

    // Ctrl+F focuses the search; typing filters by order number.
    QTest::keyClick(&window, Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY(window.searchField()->hasFocus());
    const QString number = window.model()->order(live)->orderNumber;
    QTest::keyClicks(window.searchField(), number);
    QCOMPARE(window.proxyModel()->rowCount(), 1);
    window.searchField()->clear();
    QCOMPARE(window.proxyModel()->rowCount(), 4);
    // Status filter: "Rolled back".
    window.statusFilter()->setCurrentIndex(window.statusFilter()->findText(QStringLiteral("Rolled back")));
    QCOMPARE(window.proxyModel()->rowCount(), 1);
    window.statusFilter()->setCurrentIndex(0);

    // UTC / local toggle changes how times are shown.
    window.setDisplayUtc(false);
    QVERIFY(!window.model()->displayUtc());
    window.setDisplayUtc(true);
}

// The SQLite file deleted under the console (a user clearing demo data): the view
// says, once and plainly, that the database file was deleted and sagas are paused,
// instead of carrying on into a file no one can open again.
void tst_EmbeddedConsole::deletedDatabaseFileMakesTheViewStale()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/deleted.sqlite");
    EmbeddedSource *source = newSource(file, nullptr);
    std::unique_ptr<EmbeddedSource> owner(source);
    QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
    source->start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QVERIFY(!place(source, OrderPresets::make(OrderPreset::HappyPath)).isNull());
    QCOMPARE(source->state(), ProgressSource::State::Live);
    for (const QString &suffix : {QString(), QStringLiteral("-wal"), QStringLiteral("-shm")})
        QVERIFY(QFile::remove(file + suffix));
    QObject context;
    source->placeOrder(OrderPresets::make(OrderPreset::HappyPath), &context, [](PlaceOrderResult) {});
    QTRY_COMPARE_WITH_TIMEOUT(source->state(), ProgressSource::State::Stale, kTimeout);
    const QString message = source->stateMessage();
    QVERIFY2(message.startsWith(QLatin1String("The database file was deleted or replaced while in use; sagas are paused")),
             qPrintable(message));
    QCOMPARE(message.count(QLatin1String("deleted")), 1);
    QVERIFY(!QFile::exists(file));
}

// The status bar's order count under steady traffic: a new order every 40 ms,
// more often than the count's 250 ms pause, must not keep the count from showing.
void tst_EmbeddedConsole::orderCountKeepsUpWithSteadyTraffic()
{
    MainWindow window;
    auto *count = window.findChild<QLabel *>(QStringLiteral("orderCount"));
    QVERIFY(count);
    QCOMPARE(count->text(), QStringLiteral("0 orders"));
    int placed = 0;
    QTimer feed;
    feed.setInterval(40);
    connect(&feed, &QTimer::timeout, &window, [&] {
        SagaScenarios::Builder b(QUuid::createUuid());
        b.started(1, QStringLiteral("ORD-20240110-%1").arg(++placed, 6, 10, QLatin1Char('0')));
        window.model()->applyEvents(b.events());
    });
    feed.start();
    QTRY_VERIFY_WITH_TIMEOUT(count->text() != QLatin1String("0 orders"), 5000);
    QVERIFY(feed.isActive()); // shown while the traffic goes on
    const int shown = count->text().section(QLatin1Char(' '), 0, 0).toInt();
    QVERIFY2(shown > 0 && shown <= placed, qPrintable(count->text()));
    feed.stop();
    QTRY_COMPARE(count->text(), QStringLiteral("%1 orders").arg(placed));
    // A filter shows what it keeps of the total.
    window.searchField()->setText(QStringLiteral("ORD-20240110-000001"));
    QTRY_COMPARE(count->text(), QStringLiteral("1 of %1 orders").arg(placed));
}

// saga-console --demo-rate 120 --demo-failures 50 once must not make those the
// defaults of every later start (the help says "for this run"); what is changed in
// the window (the New Order dialog) is a new preference and is kept.
void tst_EmbeddedConsole::demoSettingsOfTheCommandLineAreForThisRunOnly()
{
    {
        QSettings settings;
        settings.setValue(QStringLiteral("demo/ordersPerMinute"), 45);
        settings.setValue(QStringLiteral("demo/failurePercent"), 20);
    }
    {
        MainWindow window;
        window.restoreSettings();
        window.setDemoForThisRun(120, 50);
        QCOMPARE(window.demoTraffic()->ordersPerMinute(), 120);
        QCOMPARE(window.demoTraffic()->failurePercent(), 50);
        window.saveSettings();
    }
    {
        QSettings settings;
        QCOMPARE(settings.value(QStringLiteral("demo/ordersPerMinute")).toInt(), 45);
        QCOMPARE(settings.value(QStringLiteral("demo/failurePercent")).toInt(), 20);
    }
    {
        MainWindow window;
        window.restoreSettings();
        QCOMPARE(window.demoTraffic()->ordersPerMinute(), 45);
        window.setDemoForThisRun(120, std::nullopt);
        window.demoTraffic()->setOrdersPerMinute(90); // as the New Order dialog does
        window.demoTraffic()->setFailurePercent(60);
        window.saveSettings();
    }
    QSettings settings;
    QCOMPARE(settings.value(QStringLiteral("demo/ordersPerMinute")).toInt(), 90);
    QCOMPARE(settings.value(QStringLiteral("demo/failurePercent")).toInt(), 60);
}

// An order retried while the view is filtered leaves the filter while it runs.
// The tree must not slide its selection onto a neighbouring order (the panel and
// Ctrl+R would then be about another order than the one acted on): the panel
// keeps the retried order, the tree selects nothing else, and the order is
// selected again when it is back in view. The window's Retry action follows the
// panel's button once the retry is sent. Another source shows no order of the
// previous one.
// Two consoles on one SQLite file: each shows the orders the other's engine runs,
// live, to the end, and the sagas one leaves when it closes are finished by the
// other (which shows them whole, not as QUEUED rows missing their start). Each
// showed only its own engine's orders (and what it loaded at start).
void tst_EmbeddedConsole::otherEnginesOnTheFileAreFollowed()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/shared.sqlite");
    MainWindow a;
    EmbeddedSource *sourceA = newSource(file, nullptr);
    QSignalSpy loadedA(sourceA, &ProgressSource::initialLoadFinished);
    a.setSource(sourceA, embeddedSpec(file));
    QTRY_COMPARE_WITH_TIMEOUT(loadedA.count(), 1, kTimeout);
    auto b = std::make_unique<MainWindow>();
    EngineConfig slow;
    slow.database = *DatabaseUrl::parse(QStringLiteral("sqlite:") + file, nullptr);
    slow.stepDelayMs = 1500; // B's sagas are in flight when it closes
    slow.leaseSeconds = 2;   // and A takes them over soon after
    EmbeddedSource *sourceB = new EmbeddedSource(slow, nullptr);
    QSignalSpy loadedB(sourceB, &ProgressSource::initialLoadFinished);
    b->setSource(sourceB, embeddedSpec(file));
    QTRY_COMPARE_WITH_TIMEOUT(loadedB.count(), 1, kTimeout);

    const QUuid fromA = place(sourceA, OrderPresets::make(OrderPreset::HappyPath));
    const QUuid fromB = place(sourceB, OrderPresets::make(OrderPreset::HappyPath));
    QVERIFY(!fromA.isNull() && !fromB.isNull());
    QTRY_VERIFY_WITH_TIMEOUT(statusOf(*b->model(), fromA) == OverallStatus::Completed, kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(a.model()->order(fromB) && a.model()->order(fromB)->overallStatus != OverallStatus::Queued,
                             kTimeout);

    // B closes with sagas in flight: A's engine takes them over and A shows them to the end.
    QVector<QUuid> left;
    for (int i = 0; i < 3; ++i)
        left << place(sourceB, OrderPresets::make(OrderPreset::HappyPath));
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(left.cbegin(), left.cend(), [&](const QUuid &id) { return a.model()->order(id); }),
                             kTimeout);
    b.reset();
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(left.cbegin(), left.cend(),
                                         [&](const QUuid &id) { return statusOf(*a.model(), id) == OverallStatus::Completed; }),
                             60000);
    QTRY_VERIFY_WITH_TIMEOUT(statusOf(*a.model(), fromB) == OverallStatus::Completed, kTimeout);
    for (const QUuid &id : std::as_const(left))
        QVERIFY(!a.model()->order(id)->orderNumber.isEmpty()); // folded from its start, not a bare row
}

void tst_EmbeddedConsole::retriedOrderStaysTheOneShown()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/selection.sqlite");
    MainWindow window;
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    EmbeddedSource *source = newSource(file, nullptr);
    QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
    window.setSource(source, embeddedSpec(file));
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QVector<QUuid> ids;
    for (int i = 0; i < 3; ++i)
        ids << place(source, OrderPresets::make(OrderPreset::DeclinedCard));
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(ids.cbegin(), ids.cend(),
                                         [&](const QUuid &id) { return isTerminalIn(*window.model(), id); }),
                             kTimeout);
    window.statusFilter()->setCurrentIndex(window.statusFilter()->findText(QStringLiteral("Rolled back")));
    QCOMPARE(window.proxyModel()->rowCount(), 3);
    const QUuid acted = ids.at(1); // the middle row: neighbours on both sides
    QVERIFY(window.selectOrder(acted));
    QAction *retryAction = nullptr;
    for (QAction *a : window.findChildren<QAction *>()) {
        if (a->shortcut() == QKeySequence(Qt::CTRL | Qt::Key_R))
            retryAction = a;
    }
    QVERIFY(retryAction);
    QTRY_VERIFY_WITH_TIMEOUT(window.detailPanel()->retryButton()->isEnabled(), kTimeout);
    QVERIFY(retryAction->isEnabled());

    // Ctrl+R through the window's action; the dialog starts from the order's card
    // (read with the case) and is accepted with a new one.
    QTRY_VERIFY_WITH_TIMEOUT(window.detailPanel()->isCaseLoaded(), kTimeout);
    bool dialogSeen = false;
    QString cardShown;
    QTimer::singleShot(0, this, [&] {
        auto *dialog = qobject_cast<QDialog *>(QApplication::activeModalWidget());
        if (!dialog)
            return;
        dialogSeen = true;
        if (auto *payment = dialog->findChild<QLineEdit *>(QStringLiteral("paymentMethod"))) {
            payment->setText(QStringLiteral("declined-card")); // the card that failed: refused by name
            if (auto *retry = qobject_cast<RetryDialog *>(dialog))
                cardShown = retry->problemText();
            payment->setText(QStringLiteral("pm-visa-4242"));
        }
        dialog->accept();
    });
    retryAction->trigger();
    QVERIFY(dialogSeen);
    QVERIFY2(cardShown.contains(QLatin1String("must differ from the one that failed (declined-card)")),
             qPrintable(cardShown));
    QVERIFY(!retryAction->isEnabled()); // sent: not offered a second time meanwhile

    QTRY_COMPARE_WITH_TIMEOUT(window.proxyModel()->rowCount(), 2, kTimeout);
    QCOMPARE(window.detailPanel()->orderId(), acted);
    QVERIFY(!window.treeView()->currentIndex().isValid());
    QTRY_COMPARE_WITH_TIMEOUT(toString(statusOf(*window.model(), acted)), toString(OverallStatus::Completed), kTimeout);
    QCOMPARE(window.detailPanel()->orderId(), acted);
    QVERIFY(!window.treeView()->currentIndex().isValid());
    QTRY_VERIFY_WITH_TIMEOUT(window.detailPanel()->isEligibilityKnown(), kTimeout);
    QVERIFY(!retryAction->isEnabled());

    // Back in view: selected again.
    window.statusFilter()->setCurrentIndex(0);
    QTRY_COMPARE(window.treeView()->currentIndex().data(OrderTreeModel::OrderIdRole).toUuid(), acted);
    QCOMPARE(window.detailPanel()->orderId(), acted);

    // Another source: no order of the previous one stays in the panel.
    const QString other = TestServices::tempDir() + QStringLiteral("/selection-other.sqlite");
    window.setSource(newSource(other, nullptr), embeddedSpec(other));
    QCOMPARE(window.detailPanel()->orderId(), QUuid());
    QVERIFY(!window.treeView()->currentIndex().isValid());
}

// The embedded source checks an order with saga-server's own rules: an order
// the server would answer with 400 is refused with the field named, and nothing
// of it is recorded.
void tst_EmbeddedConsole::placedOrdersFollowTheServersRules()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/rules.sqlite");
    OrderTreeModel model;
    EventBatcher batcher(&model);
    EmbeddedSource *source = newSource(file, this);
    QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
    connect(source, &ProgressSource::eventsReady, &batcher, &EventBatcher::addEvents);
    source->start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    OrderRequest blankProduct = OrderPresets::make(OrderPreset::HappyPath);
    blankProduct.items[0].productId = QStringLiteral("  ");
    OrderRequest blankPostalCode = OrderPresets::make(OrderPreset::HappyPath);
    blankPostalCode.shippingAddress.postalCode.clear();
    const QList<QPair<OrderRequest, QString>> cases{{blankProduct, QStringLiteral("items[0].productId")},
                                                    {blankPostalCode, QStringLiteral("shippingAddress.postalCode")}};
    for (const auto &[request, field] : cases) {
        PlaceOrderResult result;
        bool answered = false;
        source->placeOrder(request, this, [&](PlaceOrderResult r) {
            result = r;
            answered = true;
        });
        QTRY_VERIFY_WITH_TIMEOUT(answered, kTimeout);
        QVERIFY(!result.ok);
        QVERIFY(result.orderId.isNull());
        QVERIFY2(result.error.contains(field), qPrintable(result.error));
    }
    const QUuid placed = place(source, OrderPresets::make(OrderPreset::HappyPath));
    QVERIFY(!placed.isNull());
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(model, placed), kTimeout);
    QCOMPARE(model.orderCount(), 1); // only the valid one
}

// A tree without rows says why (loading, nothing yet and how to start, nothing
// matching); Help > Keyboard Shortcuts lists every menu action with a shortcut;
// a charged amount reads "$45.99".
void tst_EmbeddedConsole::emptyTreeSaysWhyAndShortcutsAreListed()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/empty.sqlite");
    MainWindow window;
    window.resize(1200, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto *hint = window.treeView()->viewport()->findChild<QLabel *>(QStringLiteral("emptyView"));
    QVERIFY(hint);
    EmbeddedSource *source = newSource(file, nullptr);
    QSignalSpy loaded(source, &ProgressSource::initialLoadFinished);
    window.setSource(source, embeddedSpec(file));
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QTRY_VERIFY(window.emptyViewText().startsWith(QLatin1String("No orders yet")));
    QVERIFY(hint->isVisible());
    QCOMPARE(hint->text(), window.emptyViewText());
    QVERIFY(window.treeView()->viewport()->rect().contains(hint->geometry()));

    const QUuid id = place(source, OrderPresets::make(OrderPreset::HappyPath));
    QTRY_VERIFY_WITH_TIMEOUT(isTerminalIn(*window.model(), id), kTimeout);
    QTRY_VERIFY(!hint->isVisible());
    QCOMPARE(window.emptyViewText(), QString());
    QTest::keyClicks(window.searchField(), QStringLiteral("no-such-order"));
    QTRY_VERIFY(hint->isVisible());
    QVERIFY2(hint->text().contains(QLatin1String("No order matches")), qPrintable(hint->text()));
    window.searchField()->clear();
    QTRY_VERIFY(!hint->isVisible());

    QVERIFY(window.selectOrder(id));
    bool charged = false;
    const QRegularExpression amount(QStringLiteral("charged \\$\\d[\\d,]*\\.\\d\\d$"));
    QTRY_VERIFY([&] {
        for (const QLabel *l : window.detailPanel()->findChildren<QLabel *>())
            charged = charged || amount.match(l->text()).hasMatch();
        return charged;
    }());

    const QString shortcuts = window.shortcutsHtml();
    for (const char *expected : {"Expand All", "Collapse All", "Retry", "Copy Status JSON", "Export Case"}) {
        QVERIFY2(shortcuts.contains(QLatin1String(expected), Qt::CaseInsensitive),
                 qPrintable(QStringLiteral("%1 missing from %2").arg(QLatin1String(expected), shortcuts)));
    }
    for (QAction *a : window.findChildren<QAction *>()) {
        if (!a->shortcut().isEmpty() && !a->associatedObjects().isEmpty())
            QVERIFY2(shortcuts.contains(a->shortcut().toString(QKeySequence::NativeText).toHtmlEscaped()),
                     qPrintable(a->text()));
    }

    // A problem is said once, whole, in the banner; not again, cut short, in the status bar.
    for (const QString &suffix : {QString(), QStringLiteral("-wal"), QStringLiteral("-shm")})
        QVERIFY(QFile::remove(file + suffix));
    QObject context;
    source->placeOrder(OrderPresets::make(OrderPreset::HappyPath), &context, [](PlaceOrderResult) {});
    QTRY_COMPARE_WITH_TIMEOUT(source->state(), ProgressSource::State::Stale, kTimeout);
    auto *banner = window.findChild<QFrame *>(QStringLiteral("banner"));
    QVERIFY(banner);
    QTRY_VERIFY(banner->isVisible());
    QVERIFY(window.connectionText().startsWith(QLatin1String("The database file was deleted")));
    QVERIFY2(!window.statusBar()->currentMessage().contains(QLatin1String("deleted")),
             qPrintable(window.statusBar()->currentMessage()));
}

// Newer orders are inserted at the top. Scrolled down, the row at the top of
// the tree stays there (the rows under the mouse do not slide away); at the top
// of the list the newest order is shown.
void tst_EmbeddedConsole::rowsStayInPlaceWhileScrolledDown()
{
    MainWindow window;
    window.resize(1200, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    int next = 0;
    auto addOrders = [&](int n) {
        QVector<OrderEvent> events;
        for (int i = 0; i < n; ++i) {
            SagaScenarios::Builder b(QUuid::createUuid());
            b.started(1, QStringLiteral("ORD-20240110-%1").arg(++next, 6, 10, QLatin1Char('0')));
            events += b.events();
        }
        window.eventBatcher()->addEvents(events);
    };
    auto topOrder = [&] { return window.treeView()->indexAt(QPoint(0, 0)).data(OrderTreeModel::OrderIdRole).toUuid(); };
    addOrders(300);
    QTRY_COMPARE(window.model()->orderCount(), 300);
    QScrollBar *bar = window.treeView()->verticalScrollBar();
    QTRY_VERIFY(bar->maximum() > 100);
    bar->setValue(bar->maximum() / 2);
    const QUuid reading = topOrder();
    QVERIFY(!reading.isNull());
    for (int round = 0; round < 3; ++round) {
        addOrders(7);
        QTRY_COMPARE(window.model()->orderCount(), 300 + 7 * (round + 1));
        QTRY_COMPARE(topOrder(), reading);
    }
    // At the top, new orders are what one sees.
    bar->setValue(0);
    addOrders(1);
    QTRY_COMPARE(window.model()->orderCount(), 322);
    QTRY_COMPARE(window.treeView()->indexAt(QPoint(0, 0)).data(Qt::DisplayRole).toString(),
                 QStringLiteral("ORD-20240110-000322"));
}

QTEST_MAIN(tst_EmbeddedConsole)
#include "tst_embeddedconsole.moc"
