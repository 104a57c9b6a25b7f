// The main window without an engine: what the tree shows after a new search or
// status filter, the default layout, the docks' shortcuts, Help > About and a
// damaged saved geometry. Orders are fed to the window's batcher directly.

#include "chartspanel.h"
#include "detailpanel.h"
#include "eventbatcher.h"
#include "fakesource.h"
#include "guitesthelpers.h"
#include "mainwindow.h"
#include "orderfilterproxymodel.h"
#include "orderhistory.h"
#include "ordertreemodel.h"
#include "timelinemodel.h"

#include <QAction>
#include <QComboBox>
#include <QDockWidget>
#include <QFrame>
#include <QHeaderView>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QScreen>
#include <QSettings>
#include <QPushButton>
#include <QAbstractButton>
#include <QSplitter>
#include <QSplitterHandle>
#include <QStatusBar>
#include <QScrollBar>
#include <QStandardPaths>
#include <QTest>
#include <QTreeView>

using namespace SagaScenarios;

namespace {
constexpr int kTimeout = 10000;

// `count` orders numbered from `first`; every fifth one failed with FRAUD_DETECTED
// (rolled back), the others completed. Newest (highest number) first in the tree.
void addOrders(MainWindow &window, int first, int count)
{
    QVector<OrderEvent> events;
    for (int n = first; n < first + count; ++n) {
        Builder b(QUuid::createUuid(), baseTime().addSecs(n), 10);
        b.started(1, QStringLiteral("ORD-20240110-%1").arg(n, 6, 10, QLatin1Char('0')));
        b.stepOk(SagaStep::Inventory);
        if (n % 5 == 0) {
            b.stepFails(SagaStep::Payment, QStringLiteral("FRAUD_DETECTED"), QStringLiteral("Payment flagged as fraudulent"));
            b.add(EventType::CompensationStarted);
            b.compensate(SagaStep::Inventory);
            b.failed();
        } else {
            b.stepOk(SagaStep::Payment);
            b.stepOk(SagaStep::Shipping);
            b.completed();
        }
        events += b.events();
    }
    window.eventBatcher()->addEvents(events);
}

QString topRowNumber(QTreeView *view)
{
    return view->indexAt(QPoint(1, 1)).data(Qt::DisplayRole).toString();
}

// An order as in the probe's screenshots: payment declined (injected), inventory
// released, ROLLED_BACK, nine history entries. The source answers its history and
// says it can be retried after a new payment method (the longest retry sentence).
QUuid addFailedOrder(MainWindow &window, FakeSource *source)
{
    const QUuid id = QUuid::createUuid();
    Builder b(id, baseTime().addSecs(100000), 900);
    b.started(1, QStringLiteral("ORD-20240110-009999"));
    b.stepOk(SagaStep::Inventory);
    b.stepFails(SagaStep::Payment, QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("Injected failure (PAYMENT_DECLINED)."));
    b.add(EventType::CompensationStarted);
    b.compensate(SagaStep::Inventory);
    b.failed();
    source->orderCase.history = HistoryBuilder::build(b.events());
    for (const OrderEvent &e : b.events())
        source->orderCase.rawEvents.append(QJsonObject{{QStringLiteral("seq"), e.seq}});
    source->eligibility.eligible = true;
    source->eligibility.maxRetries = 3;
    source->eligibility.requiredActions = {QStringLiteral("UPDATE_PAYMENT_METHOD")};
    window.eventBatcher()->addEvents(b.events());
    return id;
}

// A running order at its last step ("Shipping Arrangement", the longest step name).
void addRunningOrder(MainWindow &window)
{
    Builder b(QUuid::createUuid(), baseTime().addSecs(200000), 900);
    b.started(1, QStringLiteral("ORD-20240110-010000"));
    b.stepOk(SagaStep::Inventory);
    b.stepOk(SagaStep::Payment);
    b.add(EventType::StepStarted, SagaStep::Shipping);
    window.eventBatcher()->addEvents(b.events());
}

// The whole of `w` is on screen: inside every ancestor up to the window (not
// scrolled away, not cut off by a splitter or the window's edge).
bool wholeOnScreen(QWidget *w)
{
    return w->isVisible() && w->visibleRegion() == QRegion(w->rect());
}

// Places a failed order in `window` through `source`, selects it and waits until
// the detail panel shows its case and offers Retry.
void showFailedOrder(MainWindow &window, FakeSource *source)
{
    const QUuid id = addFailedOrder(window, source);
    QTRY_VERIFY_WITH_TIMEOUT(window.model()->order(id), kTimeout);
    QVERIFY(window.selectOrder(id));
    DetailPanel *detail = window.detailPanel();
    QTRY_VERIFY_WITH_TIMEOUT(detail->isCaseLoaded() && detail->isEligibilityKnown(), kTimeout);
    QTRY_VERIFY(detail->retryButton()->isEnabled());
}

// Gives `window` (already sized) a fake source, shows it with `others` orders and
// a failed one, and selects that (the caller checks QTest::currentTestFailed()).
void showWithAFailedOrder(MainWindow &window, int others)
{
    auto *source = new FakeSource;
    window.setSource(source, SourceSpec{});
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    addOrders(window, 1, others);
    showFailedOrder(window, source);
}

// What of the detail panel's failure box and Retry button is not wholly on
// screen (empty when both are).
QString failureAndRetryOffScreen(DetailPanel *detail)
{
    auto *failureBox = detail->findChild<QFrame *>(QStringLiteral("failureBox"));
    if (!failureBox)
        return QStringLiteral("there is no failure box");
    if (!wholeOnScreen(failureBox))
        return QStringLiteral("the failure box is not wholly on screen");
    if (!wholeOnScreen(detail->retryButton()))
        return QStringLiteral("the Retry button is not wholly on screen");
    return {};
}

// The tree's columns whose header section is not wholly inside its viewport
// (empty when all are).
QString columnsOffScreen(MainWindow &window)
{
    const QHeaderView *header = window.treeView()->header();
    const int viewportWidth = window.treeView()->viewport()->width();
    QStringList off;
    for (int c = 0; c < OrderTreeModel::ColumnCount; ++c) {
        const int left = header->sectionViewportPosition(c);
        const int right = left + header->sectionSize(c);
        if (left < 0 || right > viewportWidth)
            off << QStringLiteral("%1 at %2..%3 (the viewport is %4 px wide)")
                       .arg(window.model()->headerData(c, Qt::Horizontal, Qt::DisplayRole).toString())
                       .arg(left).arg(right).arg(viewportWidth);
    }
    return off.join(QStringLiteral("; "));
}

// The order row of `id` lies wholly inside the tree's viewport.
bool rowOnScreen(MainWindow &window, const QUuid &id)
{
    const QModelIndex index = window.proxyModel()->mapFromSource(window.model()->indexOf(id));
    return index.isValid() && window.treeView()->viewport()->rect().contains(window.treeView()->visualRect(index));
}
} // namespace

class tst_MainWindow : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void newSearchShowsTheSelectionOrTheTop();
    void dockShortcutsBringThePanelToTheFront();
    void statusBarCountsAndAboutSayWhatIsTrue();
    void orderActionsNeedAnOrder();
    void orderCountSaysOneOrder();
    void unansweredSourceIsNotAnEmptyOne();
    void utcToggleSaysWhatItShows();
    void damagedSavedGeometryGivesTheDefaultWindow_data();
    void damagedSavedGeometryGivesTheDefaultWindow();
    void defaultSizeShowsEveryColumn();
    void failedOrderShowsFailureRetryAndHistory();
    void historyRoomIsTheUsersAndRemembered();
    void mnemonicsAreUnique();
    void smallWindowKeepsRetryInView();
    void resizedLayoutIsRemembered();
    void columnsSavedByTheFixedLayoutGiveWay();
    void dockHeightIsKeptAcrossRestarts();
    void errorColumnTakesTheSpareWidth();
};

void tst_MainWindow::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
}

// The probe: demo traffic, the tree scrolled a little, "fraud" typed: the matches
// started far down, the newest above the viewport. A new search or status filter
// shows the selected order when the results hold it, else their top; clearing
// the search goes back to the selected order, not somewhere unrelated.
void tst_MainWindow::newSearchShowsTheSelectionOrTheTop()
{
    MainWindow window;
    window.resize(1200, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    addOrders(window, 1, 300);
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->orderCount(), 300, kTimeout);
    QTreeView *view = window.treeView();
    QScrollBar *bar = view->verticalScrollBar();
    QTRY_VERIFY(bar->maximum() > 100);
    bar->setValue(40);

    QTest::keyClicks(window.searchField(), QStringLiteral("fraud"));
    QCOMPARE(window.proxyModel()->rowCount(), 60);
    QTRY_COMPARE(topRowNumber(view), QStringLiteral("ORD-20240110-000300"));
    QCOMPARE(bar->value(), 0);

    // Select a match far down the results, go to the top, clear the search: the
    // selected order is on screen in the whole list.
    const QModelIndex match = window.proxyModel()->index(45, 0);
    const QUuid selected = match.data(OrderTreeModel::OrderIdRole).toUuid();
    QVERIFY(window.selectOrder(selected));
    bar->setValue(0);
    QVERIFY(!rowOnScreen(window, selected));
    window.searchField()->clear();
    QCOMPARE(window.proxyModel()->rowCount(), 300);
    QTRY_VERIFY(rowOnScreen(window, selected));
    QCOMPARE(window.detailPanel()->orderId(), selected);

    // A status filter without the selected (rolled back) order: the top of the list.
    bar->setValue(bar->maximum() / 3);
    window.statusFilter()->setCurrentIndex(window.statusFilter()->findText(QStringLiteral("Completed")));
    QCOMPARE(window.proxyModel()->rowCount(), 240);
    QTRY_COMPARE(topRowNumber(view), QStringLiteral("ORD-20240110-000299"));
    QCOMPARE(bar->value(), 0);
    // ... and back to all statuses: the selected order again, on screen.
    window.statusFilter()->setCurrentIndex(0);
    QTRY_VERIFY(rowOnScreen(window, selected));
    QCOMPARE(window.treeView()->currentIndex().data(OrderTreeModel::OrderIdRole).toUuid(), selected);

    // Live insertions while scrolled still keep the rows in place (not a new filter).
    bar->setValue(bar->maximum() / 2);
    const QString reading = topRowNumber(view);
    addOrders(window, 301, 5);
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->orderCount(), 305, kTimeout);
    QTRY_COMPARE(topRowNumber(view), reading);
}

// The probe: F8 showed the Failure Injection dock behind the Charts tab (the
// docks are tabified). F8 / F9 bring their panel to the front when it is open
// behind the other tab, and close it only when it is already in front.
void tst_MainWindow::dockShortcutsBringThePanelToTheFront()
{
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto *faults = window.findChild<QDockWidget *>(QStringLiteral("failureInjectionDock"));
    auto *charts = window.findChild<QDockWidget *>(QStringLiteral("chartsDock"));
    QVERIFY(faults && charts);
    auto actionFor = [&window](Qt::Key key) -> QAction * {
        for (QAction *a : window.findChildren<QAction *>()) {
            if (a->shortcut() == QKeySequence(key) && !a->associatedObjects().isEmpty())
                return a;
        }
        return nullptr;
    };
    QAction *f8 = actionFor(Qt::Key_F8);
    QAction *f9 = actionFor(Qt::Key_F9);
    QVERIFY(f8 && f9);
    // A dock behind the other tab stays "visible" (moved off-screen): in front
    // means it has something on screen.
    auto inFront = [](QDockWidget *dock) { return !dock->isHidden() && !dock->visibleRegion().isEmpty(); };
    QTRY_VERIFY(inFront(charts)); // Charts in front, Failure Injection open behind it
    QVERIFY(!inFront(faults));
    QVERIFY(!faults->isHidden());

    f8->trigger();
    QTRY_VERIFY(inFront(faults));
    QVERIFY(!inFront(charts));
    QVERIFY(f8->isChecked());

    f8->trigger(); // in front: closed
    QTRY_VERIFY(faults->isHidden());
    QTRY_VERIFY(inFront(charts));
    QVERIFY(!f8->isChecked());

    f8->trigger(); // closed: opened, in front
    QTRY_VERIFY(inFront(faults));
    QVERIFY(!inFront(charts));
    QVERIFY(f8->isChecked());

    f9->trigger(); // Charts open behind: to the front, not closed
    QTRY_VERIFY(inFront(charts));
    QVERIFY(!inFront(faults));
    QVERIFY(!faults->isHidden());
    QTRY_VERIFY(f9->isChecked());
    QTRY_VERIFY(!f8->isChecked());
}

// "0 order(s) loaded." in the status bar; no Help > About.
void tst_MainWindow::statusBarCountsAndAboutSayWhatIsTrue()
{
    QCoreApplication::setApplicationVersion(QStringLiteral("9.8.7"));
    MainWindow window;
    window.setSource(new FakeSource, SourceSpec{});
    QCOMPARE(window.statusBar()->currentMessage(), QStringLiteral("0 orders loaded."));

    QAction *about = nullptr;
    for (QAction *menu : window.menuBar()->actions()) {
        if (!menu->menu() || menu->text().remove(QLatin1Char('&')) != QLatin1String("Help"))
            continue;
        for (QAction *a : menu->menu()->actions()) {
            if (a->text().remove(QLatin1Char('&')) == QLatin1String("About Saga Console"))
                about = a;
        }
    }
    QVERIFY(about);
    const QString text = window.aboutText();
    for (const QString &expected : {QStringLiteral("9.8.7"), QString::fromLatin1(qVersion()),
                                    QStringLiteral("Fake: fake://test")})
        QVERIFY2(text.contains(expected), qPrintable(expected + QStringLiteral(" missing from ") + text));
}

// The probe: right after the start, and again after File > Connect to another
// source (the detail panel blank, no row selected), Orders > Copy Status JSON and
// Export Case File were enabled, and they and Ctrl+Shift+C / Ctrl+E did nothing.
// They are offered while an order is shown, as the detail panel's buttons are.
void tst_MainWindow::orderActionsNeedAnOrder()
{
    MainWindow window;
    auto menuAction = [&window](const QString &text) -> QAction * {
        for (QAction *menu : window.menuBar()->actions()) {
            if (!menu->menu())
                continue;
            for (QAction *a : menu->menu()->actions()) {
                if (a->text().remove(QLatin1Char('&')).remove(QStringLiteral("…")) == text)
                    return a;
            }
        }
        return nullptr;
    };
    QAction *copy = menuAction(QStringLiteral("Copy Status JSON"));
    QAction *exportCase = menuAction(QStringLiteral("Export Case File"));
    QVERIFY(copy && exportCase);
    QVERIFY(!copy->isEnabled());
    QVERIFY(!exportCase->isEnabled());

    showWithAFailedOrder(window, 3);
    if (QTest::currentTestFailed())
        return;
    QVERIFY(copy->isEnabled());
    QVERIFY(exportCase->isEnabled());

    // Another source: its orders are loaded anew, none is selected nor shown.
    window.setSource(new FakeSource, SourceSpec{});
    QVERIFY(window.detailPanel()->orderId().isNull());
    QVERIFY(!window.treeView()->currentIndex().isValid());
    QVERIFY(!copy->isEnabled());
    QVERIFY(!exportCase->isEnabled());
}

// The probe: an empty database, the first order placed: the status bar said
// "1 orders" (and "0 of 1 orders" with a search that hides it).
void tst_MainWindow::orderCountSaysOneOrder()
{
    MainWindow window;
    window.setSource(new FakeSource, SourceSpec{});
    auto *count = window.findChild<QLabel *>(QStringLiteral("orderCount"));
    QVERIFY(count);
    QTRY_COMPARE(count->text(), QStringLiteral("0 orders"));
    addOrders(window, 1, 1);
    QTRY_COMPARE_WITH_TIMEOUT(count->text(), QStringLiteral("1 order"), kTimeout);
    window.searchField()->setText(QStringLiteral("no such order"));
    QTRY_COMPARE(count->text(), QStringLiteral("0 of 1 order"));
    window.searchField()->clear();
    addOrders(window, 2, 1);
    QTRY_COMPARE_WITH_TIMEOUT(count->text(), QStringLiteral("2 orders"), kTimeout);
    window.searchField()->setText(QStringLiteral("ORD-20240110-000002"));
    QTRY_COMPARE(count->text(), QStringLiteral("1 of 2 orders"));
}

// The probe: a remote console started while its saga-server could not be reached
// said "No orders yet. Place one with Ctrl+N, or start demo traffic with Ctrl+D."
// under the banner "Cannot reach saga-server ...": a server that may hold many
// orders was shown as one that holds none (so did a database, and a token refused).
// Until the first load is done, the tree says none could be loaded yet.
void tst_MainWindow::unansweredSourceIsNotAnEmptyOne()
{
    MainWindow window;
    window.show();
    auto *source = new FakeSource;
    source->answersAtStart = false;
    window.setSource(source, SourceSpec{});
    QCOMPARE(source->state(), ProgressSource::State::Reconnecting);
    QCOMPARE(window.emptyViewText(), QStringLiteral("No orders loaded yet: see the message above."));
    auto *hint = window.findChild<QLabel *>(QStringLiteral("emptyView"));
    QVERIFY(hint);
    QTRY_COMPARE(hint->text(), window.emptyViewText());

    // It answers, with no order: now it is empty.
    source->finishLoad();
    QTRY_VERIFY2(window.emptyViewText().startsWith(QLatin1String("No orders yet")), qPrintable(window.emptyViewText()));
    QTRY_COMPARE(hint->text(), window.emptyViewText());

    // A source that gives up before its first load (a token refused).
    auto *refused = new FakeSource;
    refused->answersAtStart = false;
    window.setSource(refused, SourceSpec{});
    refused->changeState(ProgressSource::State::Failed, QStringLiteral("The server rejected the token (401)."));
    QCOMPARE(window.emptyViewText(), QStringLiteral("No orders could be loaded: see the message above."));
}

// The probe: Ctrl+T (times in local time) renamed the checkable View > "Times in
// UTC" to "Times in local time" and unchecked it: an empty box beside "Times in
// local time" while the times were in local time (and a raised "Times in local
// time" toolbar button; Help > Keyboard Shortcuts listed Ctrl+T as that). The
// entry's label stays what its check mark answers.
void tst_MainWindow::utcToggleSaysWhatItShows()
{
    MainWindow window;
    QAction *utc = nullptr;
    for (QAction *a : window.findChildren<QAction *>()) {
        if (a->shortcut() == QKeySequence(Qt::CTRL | Qt::Key_T) && !a->associatedObjects().isEmpty())
            utc = a;
    }
    QVERIFY(utc && utc->isCheckable());
    auto label = [utc] { return utc->text().remove(QLatin1Char('&')); };
    QVERIFY(window.model()->displayUtc());
    QVERIFY(utc->isChecked());
    QCOMPARE(label(), QStringLiteral("Times in UTC"));

    utc->trigger(); // to local time
    QVERIFY(!window.model()->displayUtc());
    QVERIFY(!utc->isChecked());
    QCOMPARE(label(), QStringLiteral("Times in UTC"));
    QVERIFY2(utc->toolTip().contains(QLatin1String("local time")), qPrintable(utc->toolTip()));
    QVERIFY2(!window.shortcutsHtml().contains(QLatin1String("Times in local time")), qPrintable(window.shortcutsHtml()));

    utc->trigger(); // back to UTC
    QVERIFY(window.model()->displayUtc());
    QVERIFY(utc->isChecked());
    QCOMPARE(label(), QStringLiteral("Times in UTC"));
}

void tst_MainWindow::damagedSavedGeometryGivesTheDefaultWindow_data()
{
    QTest::addColumn<QByteArray>("geometry");
    QByteArray whole;
    {
        MainWindow window;
        window.resize(900, 600);
        whole = window.saveGeometry();
    }
    QTest::newRow("cut short") << whole.left(20);
    QTest::newRow("header only") << whole.left(8);
    QTest::newRow("not a geometry") << QByteArray("window geometry, edited by hand");
    QByteArray empty = whole;
    for (int i = 8; i < 40; ++i) // the rectangles zeroed
        empty[i] = 0;
    QTest::newRow("empty rectangles") << empty;
}

// A malformed saved window/geometry opened a 702x448 window at the top-left:
// the default size, centred on the screen, instead.
void tst_MainWindow::damagedSavedGeometryGivesTheDefaultWindow()
{
    QFETCH(QByteArray, geometry);
    {
        QSettings settings;
        settings.setValue(QStringLiteral("window/geometry"), geometry);
    }
    MainWindow window;
    window.restoreSettings();
    const QRect available = window.screen()->availableGeometry();
    const QSize expected = MainWindow::kDefaultSize.boundedTo(available.size()).expandedTo(window.minimumSizeHint());
    QCOMPARE(window.size(), expected);
    const QPoint offCentre = window.geometry().center() - available.center();
    QVERIFY2(offCentre.manhattanLength() <= 2,
             qPrintable(QStringLiteral("window at %1,%2 %3x%4 on a screen %5x%6")
                            .arg(window.x()).arg(window.y()).arg(window.width()).arg(window.height())
                            .arg(available.width()).arg(available.height())));
    QSettings().remove(QStringLiteral("window/geometry"));
}

// The probe: at the default size "Last updated" and "ETA" were off-screen (the
// default column widths added up to 1,085 px in a 790 px pane). Every column
// header lies in the tree's viewport, and the order number, status and step name
// columns are wide enough for what they typically hold.
void tst_MainWindow::defaultSizeShowsEveryColumn()
{
    MainWindow window;
    window.resize(MainWindow::kDefaultSize);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    addOrders(window, 1, 40);
    addRunningOrder(window);
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->orderCount(), 41, kTimeout);
    QTreeView *view = window.treeView();
    view->expandAll();
    QCoreApplication::processEvents();

    const QString offScreen = columnsOffScreen(window);
    QVERIFY2(offScreen.isEmpty(), qPrintable(offScreen));
    const QHeaderView *header = view->header();
    // Readable: what the rows on screen need (the step rows indented) fits.
    const auto *itemView = static_cast<const QAbstractItemView *>(view);
    for (int c : {OrderTreeModel::OrderNumberColumn, OrderTreeModel::StatusColumn}) {
        QVERIFY2(header->sectionSize(c) >= itemView->sizeHintForColumn(c),
                 qPrintable(QStringLiteral("column %1: %2 px for %3 px of text")
                                .arg(c).arg(header->sectionSize(c)).arg(itemView->sizeHintForColumn(c))));
    }
    // The current step of a running order: step names whole.
    const QModelIndex running = view->model()->index(0, OrderTreeModel::CurrentStepColumn);
    QCOMPARE(running.data().toString(), QStringLiteral("Shipping Arrangement"));
    QVERIFY2(header->sectionSize(OrderTreeModel::CurrentStepColumn) >= view->sizeHintForIndex(running).width(),
             qPrintable(QString::number(header->sectionSize(OrderTreeModel::CurrentStepColumn))));
}

// The probe: the History table of a failed order showed about one row, below
// the failure box and Retry. At the default size, with the docks open, the
// failure box, the Retry button and at least three history rows are on screen
// without scrolling.
void tst_MainWindow::failedOrderShowsFailureRetryAndHistory()
{
    MainWindow window;
    window.resize(MainWindow::kDefaultSize);
    showWithAFailedOrder(window, 40);
    if (QTest::currentTestFailed())
        return;
    DetailPanel *detail = window.detailPanel();
    QVERIFY(detail->timelineModel()->rowCount() >= 3);
    QCoreApplication::processEvents();

    QCOMPARE(failureAndRetryOffScreen(detail), QString());
    auto *history = detail->findChild<QTreeView *>();
    QVERIFY(history);
    const QRegion shown = history->viewport()->visibleRegion();
    for (int row = 0; row < 3; ++row) {
        const QRect rect = history->visualRect(detail->timelineModel()->index(row, 0));
        QVERIFY2(!rect.isEmpty() && shown.contains(rect) && shown.intersected(rect) == QRegion(rect),
                 qPrintable(QStringLiteral("history row %1 (%2,%3 %4x%5) is not on screen")
                                .arg(row).arg(rect.x()).arg(rect.y()).arg(rect.width()).arg(rect.height())));
    }
}

// The detail panel's History had three rows beside the Charts dock, and no way to
// give it more. The split above it can be dragged: the history keeps the room
// given (another order shown, the window resized: the details above take the
// difference), the next start has it too, and a double click on the handle fits
// the details to their contents again, as before any drag.
void tst_MainWindow::historyRoomIsTheUsersAndRemembered()
{
    QSettings().clear();
    auto historyView = [](MainWindow &w) { return w.detailPanel()->findChild<QTreeView *>(QStringLiteral("history")); };
    auto handleOf = [](MainWindow &w) -> QSplitterHandle * {
        auto *split = w.detailPanel()->findChild<QSplitter *>();
        return split && split->count() == 2 ? split->handle(1) : nullptr;
    };
    int fitted = 0;
    int chosen = 0;
    {
        MainWindow window;
        window.resize(MainWindow::kDefaultSize);
        showWithAFailedOrder(window, 10);
        if (QTest::currentTestFailed())
            return;
        QCoreApplication::processEvents();
        QTreeView *history = historyView(window);
        QSplitterHandle *handle = handleOf(window);
        QVERIFY(history && handle);
        fitted = history->height();
        QCOMPARE(window.detailPanel()->historyHeight(), 0);

        // Dragged 150 px up: the history is 150 px taller.
        const QPoint grip = handle->rect().center();
        QTest::mousePress(handle, Qt::LeftButton, {}, grip);
        QTest::mouseMove(handle, grip - QPoint(0, 150)); // (one move: the handle follows it)
        QTest::mouseRelease(handle, Qt::LeftButton, {}, grip - QPoint(0, 150));
        QCoreApplication::processEvents();
        chosen = history->height();
        QVERIFY2(qAbs(chosen - (fitted + 150)) <= 2, qPrintable(QStringLiteral("%1 -> %2").arg(fitted).arg(chosen)));
        QVERIFY(window.detailPanel()->historyHeight() > 0);
        QCOMPARE(failureAndRetryOffScreen(window.detailPanel()), QString()); // still above it, at this size

        // Another order, then this one again, and a taller window: the history keeps its room.
        QVERIFY(window.selectOrder(window.model()->index(0, 0).data(OrderTreeModel::OrderIdRole).toUuid()));
        QCoreApplication::processEvents();
        QCOMPARE(history->height(), chosen);
        window.resize(MainWindow::kDefaultSize + QSize(0, 60));
        QTRY_COMPARE(window.size(), MainWindow::kDefaultSize + QSize(0, 60));
        QCoreApplication::processEvents();
        QCOMPARE(history->height(), chosen);
        window.resize(MainWindow::kDefaultSize);
        QTRY_COMPARE(window.size(), MainWindow::kDefaultSize);
        window.saveSettings();
    }
    {
        MainWindow window;
        window.restoreSettings();
        showWithAFailedOrder(window, 10);
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(window.size(), MainWindow::kDefaultSize);
        QCoreApplication::processEvents();
        QTreeView *history = historyView(window);
        QVERIFY(history);
        QCOMPARE(history->height(), chosen);

        // Double click: fitted to the details again.
        QSplitterHandle *handle = handleOf(window);
        QVERIFY(handle);
        QTest::mouseDClick(handle, Qt::LeftButton, {}, handle->rect().center());
        QCoreApplication::processEvents();
        QCOMPARE(window.detailPanel()->historyHeight(), 0);
        QCOMPARE(history->height(), fitted);
    }
    QSettings().clear();
}

// With Failure Injection open beside a failed order, Alt+R was both the detail
// panel's Retry… and the panel's Revert: it only moved the focus between them.
// Every visible button, label with a buddy and menu of the window has a mnemonic
// of its own.
void tst_MainWindow::mnemonicsAreUnique()
{
    MainWindow window;
    window.resize(MainWindow::kDefaultSize);
    showWithAFailedOrder(window, 3);
    if (QTest::currentTestFailed())
        return;
    auto *faults = window.findChild<QDockWidget *>(QStringLiteral("failureInjectionDock"));
    QVERIFY(faults);
    faults->raise();
    QTRY_VERIFY(!faults->visibleRegion().isEmpty());
    QHash<QChar, QStringList> owners;
    auto add = [&owners](const QString &text) {
        for (int i = 0; i + 1 < text.size(); ++i) {
            if (text.at(i) != QLatin1Char('&'))
                continue;
            if (text.at(i + 1) == QLatin1Char('&')) {
                ++i; // a literal '&'
                continue;
            }
            owners[text.at(i + 1).toLower()] << text;
            return;
        }
    };
    for (QAction *menu : window.menuBar()->actions())
        add(menu->text());
    for (QAbstractButton *button : window.findChildren<QAbstractButton *>()) {
        if (button->isVisible())
            add(button->text());
    }
    for (QLabel *label : window.findChildren<QLabel *>()) {
        if (label->isVisible() && label->buddy())
            add(label->text());
    }
    QStringList clashes;
    for (auto it = owners.cbegin(); it != owners.cend(); ++it) {
        if (it.value().size() > 1)
            clashes << QStringLiteral("Alt+%1: %2").arg(it.key().toUpper(), it.value().join(QStringLiteral(", ")));
    }
    QVERIFY2(clashes.isEmpty(), qPrintable(clashes.join(QStringLiteral("; "))));
    QVERIFY(owners.size() >= 8); // (the menus and the panels' buttons were found)
}

// The probe: at 1024x700 with the Failure Injection dock open, the failure
// reason, "What to do" and Retry were all below the fold of the detail panel.
// They are on screen without scrolling; the history can still be reached.
void tst_MainWindow::smallWindowKeepsRetryInView()
{
    MainWindow window;
    auto *source = new FakeSource;
    window.setSource(source, SourceSpec{});
    window.resize(1024, 700);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.size(), QSize(1024, 700));
    auto *faults = window.findChild<QDockWidget *>(QStringLiteral("failureInjectionDock"));
    QVERIFY(faults);
    faults->raise();
    showFailedOrder(window, source);
    if (QTest::currentTestFailed())
        return;
    DetailPanel *detail = window.detailPanel();
    QTRY_VERIFY(!faults->visibleRegion().isEmpty());
    QCoreApplication::processEvents();

    QCOMPARE(failureAndRetryOffScreen(detail), QString());
    auto *history = detail->findChild<QTreeView *>();
    QVERIFY(history);
    QVERIFY2(!history->viewport()->visibleRegion().isEmpty(), "no history row on screen");
}

// Column widths and the tree | detail split chosen by the user come back at the
// next start (the default layout is only for a first start).
void tst_MainWindow::resizedLayoutIsRemembered()
{
    QSettings().clear();
    QList<int> sizes;
    int customerWidth = 0;
    {
        MainWindow window;
        window.resize(MainWindow::kDefaultSize);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        auto *splitter = window.centralWidget()->findChild<QSplitter *>(QString(), Qt::FindDirectChildrenOnly);
        QVERIFY(splitter);
        const QList<int> before = splitter->sizes();
        splitter->setSizes({before.at(0) - 150, before.at(1) + 150});
        sizes = splitter->sizes();
        QVERIFY(sizes != before);
        window.treeView()->header()->resizeSection(OrderTreeModel::CustomerColumn, 222);
        customerWidth = window.treeView()->header()->sectionSize(OrderTreeModel::CustomerColumn);
        window.saveSettings();
    }
    MainWindow window;
    window.restoreSettings();
    window.resize(MainWindow::kDefaultSize);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.centralWidget()->findChild<QSplitter *>(QString(), Qt::FindDirectChildrenOnly)->sizes(), sizes);
    QCOMPARE(window.treeView()->header()->sectionSize(OrderTreeModel::CustomerColumn), customerWidth);
    QSettings().clear();
}

// Every start so far saved the fixed column widths (1,085 px) and split: with
// those restored, the new default layout would never show. A layout saved
// without a layout version gives way, once, to the default one.
void tst_MainWindow::columnsSavedByTheFixedLayoutGiveWay()
{
    QSettings().clear();
    QByteArray oldHeader;
    {
        MainWindow window;
        const int widths[] = {190, 100, 150, 200, 130, 165, 150}; // the fixed layout's
        for (int c = 0; c < OrderTreeModel::ColumnCount; ++c)
            window.treeView()->header()->resizeSection(c, widths[c]);
        oldHeader = window.treeView()->header()->saveState();
    }
    QSettings().setValue(QStringLiteral("window/treeHeader"), oldHeader);
    MainWindow window;
    window.restoreSettings();
    window.resize(MainWindow::kDefaultSize);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    const QString offScreen = columnsOffScreen(window);
    QVERIFY2(offScreen.isEmpty(), qPrintable(offScreen));
    QSettings().clear();
}

// The probe: the Charts dock was 250 px at a first start, 212 px after every
// restart (and its labels read "..."), whatever height the user had left it at.
// Closed and opened again with the same settings, the docks are as high as they
// were; and never lower than the charts need.
void tst_MainWindow::dockHeightIsKeptAcrossRestarts()
{
    QSettings().clear();
    int height = 0;
    for (int start = 1; start <= 4; ++start) {
        MainWindow window;
        window.restoreSettings();
        if (start == 1)
            window.resize(MainWindow::kDefaultSize);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QCOMPARE(window.size(), MainWindow::kDefaultSize);
        auto *charts = window.findChild<QDockWidget *>(QStringLiteral("chartsDock"));
        QVERIFY(charts);
        QCoreApplication::processEvents(); // (the default height is set once the window is shown)
        if (start > 1)
            QCOMPARE(charts->height(), height);
        ChartsPanel *panel = window.chartsPanel();
        QVERIFY2(panel->height() >= panel->minimumSizeHint().height(),
                 qPrintable(QStringLiteral("%1 px for %2").arg(panel->height()).arg(panel->minimumSizeHint().height())));
        const int shown = charts->height();
        if (start == 2) { // the user makes it higher
            window.resizeDocks({charts}, {shown + 60}, Qt::Vertical);
            QTRY_VERIFY(charts->height() > shown);
        }
        if (start == 3) { // or as low as it goes: the charts keep what they need
            window.resizeDocks({charts}, {60}, Qt::Vertical);
            QTRY_VERIFY(charts->height() < shown);
            QCOMPARE(panel->height(), panel->minimumSizeHint().height());
        }
        height = charts->height();
        window.close(); // (saves the settings)
    }
    QSettings().clear();
}

// The probe: at 2560x1440 "Current step / Error" kept its default width and cut
// its messages while the last column (ETA) stretched over empty space. The error
// column takes the width the other columns leave (also with a layout saved by an
// earlier version, which stretched the last section), and gives it back when
// another column is widened; in a narrow window it keeps the width its step
// names need and the tree scrolls sideways.
void tst_MainWindow::errorColumnTakesTheSpareWidth()
{
    QSettings().clear();
    int defaultError = 0;
    int defaultEta = 0;
    {
        MainWindow window;
        window.resize(MainWindow::kDefaultSize);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QHeaderView *header = window.treeView()->header();
        defaultError = header->sectionSize(OrderTreeModel::CurrentStepColumn);
        defaultEta = header->sectionSize(OrderTreeModel::EtaColumn);
        header->setStretchLastSection(true); // as saved before
        window.saveSettings();
    }
    for (const bool restored : {false, true}) {
        MainWindow window;
        if (restored)
            window.restoreSettings();
        window.resize(2560, 1440);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QHeaderView *header = window.treeView()->header();
        const QWidget *viewport = window.treeView()->viewport();
        const QString what = restored ? QStringLiteral("restored") : QStringLiteral("default");
        QTRY_COMPARE(header->length(), viewport->width()); // no empty space, nothing to scroll
        QCOMPARE(header->sectionSize(OrderTreeModel::EtaColumn), defaultEta);
        QVERIFY2(header->sectionSize(OrderTreeModel::CurrentStepColumn) > defaultError + 600,
                 qPrintable(QStringLiteral("%1: %2 px, %3 by default")
                                .arg(what)
                                .arg(header->sectionSize(OrderTreeModel::CurrentStepColumn))
                                .arg(defaultError)));
        const int wide = header->sectionSize(OrderTreeModel::CurrentStepColumn);
        header->resizeSection(OrderTreeModel::CustomerColumn, header->sectionSize(OrderTreeModel::CustomerColumn) + 100);
        QCOMPARE(header->sectionSize(OrderTreeModel::CurrentStepColumn), wide - 100);
        QCOMPARE(header->length(), viewport->width());

        window.resize(1024, 700);
        QTRY_VERIFY(header->length() > viewport->width()); // scrolls sideways
        const int stepName = window.treeView()->fontMetrics().horizontalAdvance(stepDisplayName(SagaStep::Shipping));
        QVERIFY2(header->sectionSize(OrderTreeModel::CurrentStepColumn) > stepName,
                 qPrintable(QStringLiteral("%1: %2 px for a %3 px step name")
                                .arg(what)
                                .arg(header->sectionSize(OrderTreeModel::CurrentStepColumn))
                                .arg(stepName)));
    }
    QSettings().clear();
}

QTEST_MAIN(tst_MainWindow)
#include "tst_mainwindow.moc"
