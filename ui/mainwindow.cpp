#include "mainwindow.h"

#include "chartspanel.h"
#include "connectiondialog.h"
#include "demotraffic.h"
#include "detailpanel.h"
#include "eventbatcher.h"
#include "failureinjectionpanel.h"
#include "neworderdialog.h"
#include "orderfilterproxymodel.h"
#include "ordertreemodel.h"
#include "sagalog.h"
#include "statusicons.h"
#include "stepstatusdelegate.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QShowEvent>
#include <QComboBox>
#include <QDataStream>
#include <QDockWidget>
#include <QFrame>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QScreen>
#include <QScrollBar>
#include <QScopedValueRollback>
#include <QSet>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QToolBar>
#include <QTreeView>
#include <QVBoxLayout>
#include <array>
#include <numeric>

namespace {
// QWidget::saveGeometry()'s layout (versions 1 to 3), read back in full: every
// field present and the window rectangles not empty. (restoreGeometry() checks
// the magic number and the version only, then takes what it reads.)
bool isWholeGeometry(const QByteArray &geometry)
{
    QDataStream stream(geometry);
    stream.setVersion(QDataStream::Qt_4_0);
    quint32 magic = 0;
    quint16 major = 0;
    quint16 minor = 0;
    stream >> magic >> major >> minor;
    if (stream.status() != QDataStream::Ok || magic != 0x1D9D0CB || major < 1 || major > 3)
        return false;
    QRect frame;
    QRect normal;
    qint32 screen = 0;
    quint8 maximized = 0;
    quint8 fullScreen = 0;
    stream >> frame >> normal >> screen >> maximized >> fullScreen;
    if (major > 1) {
        qint32 screenWidth = 0;
        stream >> screenWidth;
    }
    if (major > 2) {
        QRect screenGeometry;
        stream >> screenGeometry;
    }
    return stream.status() == QDataStream::Ok && frame.isValid() && normal.isValid()
           && normal.width() >= 100 && normal.height() >= 100;
}

// The order row of an index in the tree (itself, or the parent of a step row).
QModelIndex orderRowOf(QModelIndex index)
{
    while (index.parent().isValid())
        index = index.parent();
    return index;
}

using Mask = OrderFilterProxyModel::StatusMask;
constexpr Mask bit(OverallStatus s)
{
    return OrderFilterProxyModel::bit(s);
}

struct StatusChoice {
    const char *label;
    Mask mask;
    const char *icon;
};
const StatusChoice kStatusChoices[] = {
    {QT_TRANSLATE_NOOP("MainWindow", "All statuses"), OrderFilterProxyModel::kAllStatuses, nullptr},
    {QT_TRANSLATE_NOOP("MainWindow", "Active"),
     bit(OverallStatus::Queued) | bit(OverallStatus::InProgress) | bit(OverallStatus::RollingBack), nullptr},
    {QT_TRANSLATE_NOOP("MainWindow", "Needs attention"), bit(OverallStatus::Failed) | bit(OverallStatus::RolledBack),
     nullptr},
    {QT_TRANSLATE_NOOP("MainWindow", "Queued"), bit(OverallStatus::Queued), "overall-queued"},
    {QT_TRANSLATE_NOOP("MainWindow", "In progress"), bit(OverallStatus::InProgress), "overall-in-progress"},
    {QT_TRANSLATE_NOOP("MainWindow", "Completed"), bit(OverallStatus::Completed), "overall-completed"},
    {QT_TRANSLATE_NOOP("MainWindow", "Failed"), bit(OverallStatus::Failed), "overall-failed"},
    {QT_TRANSLATE_NOOP("MainWindow", "Rolling back"), bit(OverallStatus::RollingBack), "overall-rolling-back"},
    {QT_TRANSLATE_NOOP("MainWindow", "Rolled back"), bit(OverallStatus::RolledBack), "overall-rolled-back"},
};

QString stateColor(ProgressSource::State state)
{
    switch (state) {
    case ProgressSource::State::Live:
        return QStringLiteral("#188038");
    case ProgressSource::State::Connecting:
        return QStringLiteral("#1A73E8");
    case ProgressSource::State::Stale:
    case ProgressSource::State::Reconnecting:
        return QStringLiteral("#E37400");
    case ProgressSource::State::Failed:
        return QStringLiteral("#D93025");
    }
    return {};
}
} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
{
    setWindowTitle(tr("Saga Console"));
    setWindowIcon(StatusIcons::icon(QStringLiteral("saga-console")));
    m_model = new OrderTreeModel(this);
    m_proxy = new OrderFilterProxyModel(this);
    m_proxy->setSourceModel(m_model);
    m_batcher = new EventBatcher(m_model, this);
    m_demo = new DemoTraffic(this);
    keepSelectionWhileFiltered(); // before the view's selection model connects to the proxy
    createActions();
    createWidgets();
    createStatusBar();
    // The count follows row changes at most four times a second. The timer is
    // started only when idle: restarting it on every change would starve it
    // under steady traffic, and the count would never show.
    m_countTimer.setSingleShot(true);
    m_countTimer.setInterval(250);
    connect(&m_countTimer, &QTimer::timeout, this, &MainWindow::updateCounts);
    const auto countLater = [this] {
        if (!m_countTimer.isActive())
            m_countTimer.start();
    };
    for (QAbstractItemModel *m : {static_cast<QAbstractItemModel *>(m_model), static_cast<QAbstractItemModel *>(m_proxy)}) {
        connect(m, &QAbstractItemModel::rowsInserted, this, countLater);
        connect(m, &QAbstractItemModel::rowsRemoved, this, countLater);
        connect(m, &QAbstractItemModel::modelReset, this, countLater);
        connect(m, &QAbstractItemModel::layoutChanged, this, countLater);
    }
    connect(m_batcher, &EventBatcher::applied, this, [this] {
        if (!m_selectWhenSeen.isNull() && m_model->order(m_selectWhenSeen)) {
            selectOrder(std::exchange(m_selectWhenSeen, {}), true);
        }
    });
    updateCounts();
    resize(kDefaultSize);
}

void MainWindow::placeAtDefaultSize()
{
    const QScreen *screen = this->screen() ? this->screen() : QGuiApplication::primaryScreen();
    const QRect available = screen ? screen->availableGeometry() : QRect(QPoint(0, 0), kDefaultSize);
    resize(kDefaultSize.boundedTo(available.size()).expandedTo(minimumSizeHint()));
    QRect frame(QPoint(0, 0), size());
    frame.moveCenter(available.center());
    move(frame.topLeft());
}

void MainWindow::showEvent(QShowEvent *event)
{
    QMainWindow::showEvent(event);
    if (std::exchange(m_dockHeightSet, true))
        return;
    if (!m_restoredState.isEmpty()) {
        // The user's dock layout once more, now that the window is shown: restored
        // while it was hidden (restoreSettings()), the docks came out lower than
        // saved, 250 px gave 212 after a restart and lost some more at every one.
        // On a shown window Qt fits the saved sizes to the window as it is.
        restoreState(std::exchange(m_restoredState, {}));
        return;
    }
    // The docks' default height: 250 px in the default window, less in a shorter
    // one (at 1024x700 the Failure Injection panel had 70 px of empty space
    // while the detail panel scrolled), never less than the panels need. Once
    // the window has the size it is shown at (a window manager may change it).
    QTimer::singleShot(0, this, [this] {
        const int height = kDockHeight * this->height() / kDefaultSize.height();
        resizeDocks({m_chartsDock}, {qMin(kDockHeight, height)}, Qt::Vertical);
    });
}

MainWindow::~MainWindow()
{
    if (m_source)
        m_source->stop();
}

// ---- construction -------------------------------------------------------------

void MainWindow::createActions()
{
    m_newOrderAction = new QAction(StatusIcons::icon(QStringLiteral("overall-queued")), tr("&New Order…"), this);
    m_newOrderAction->setShortcut(QKeySequence::New);
    m_newOrderAction->setToolTip(tr("Place an order from a preset, or control demo traffic (Ctrl+N)"));
    connect(m_newOrderAction, &QAction::triggered, this, &MainWindow::showNewOrderDialog);

    m_demoAction = new QAction(StatusIcons::icon(QStringLiteral("overall-in-progress")), tr("&Demo Traffic"), this);
    m_demoAction->setCheckable(true);
    m_demoAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));
    m_demoAction->setToolTip(tr("Start or stop a steady mix of orders, including failures (Ctrl+D)"));
    connect(m_demoAction, &QAction::toggled, this, &MainWindow::setDemoRunning);
    connect(m_demo, &DemoTraffic::runningChanged, m_demoAction, &QAction::setChecked);
    connect(m_demo, &DemoTraffic::paused, this, [this](int seconds) {
        showMessage(tr("Demo traffic paused for %1 s: the server is limiting new orders.").arg(seconds));
    });

    m_retryAction = new QAction(StatusIcons::icon(QStringLiteral("step-compensating")), tr("&Retry…"), this);
    m_retryAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_retryAction->setEnabled(false);

    m_copyJsonAction = new QAction(tr("&Copy Status JSON"), this);
    m_copyJsonAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C));
    m_exportAction = new QAction(tr("&Export Case File…"), this);
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_copyJsonAction->setEnabled(false); // until an order is shown: updateOrderActions()
    m_exportAction->setEnabled(false);

    m_utcAction = new QAction(tr("Times in &UTC"), this);
    m_utcAction->setCheckable(true);
    m_utcAction->setChecked(true);
    m_utcAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    m_utcAction->setToolTip(tr("Show times in UTC or in local time (Ctrl+T)"));
    connect(m_utcAction, &QAction::toggled, this, &MainWindow::setDisplayUtc);

    m_connectAction = new QAction(tr("&Connect…"), this);
    m_connectAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_K));
    m_connectAction->setToolTip(tr("Switch between the embedded engine, a saga-server and a database (Ctrl+K)"));
    connect(m_connectAction, &QAction::triggered, this, &MainWindow::showConnectionDialog);

    m_searchAction = new QAction(tr("&Find Order"), this);
    m_searchAction->setShortcut(QKeySequence::Find);
    connect(m_searchAction, &QAction::triggered, this, &MainWindow::focusSearch);

    m_expandAction = new QAction(tr("E&xpand All"), this);
    m_expandAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Plus));
    m_collapseAction = new QAction(tr("Co&llapse All"), this);
    m_collapseAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Minus));
}

void MainWindow::createWidgets()
{
    // Central: banner, tree | detail.
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);

    m_banner = new QFrame(central);
    m_banner->setObjectName(QStringLiteral("banner"));
    auto *bannerLayout = new QHBoxLayout(m_banner);
    bannerLayout->setContentsMargins(10, 6, 10, 6);
    m_bannerText = new QLabel(m_banner);
    m_bannerText->setWordWrap(true);
    m_bannerText->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *bannerButton = new QPushButton(tr("Connect…"), m_banner);
    connect(bannerButton, &QPushButton::clicked, this, &MainWindow::showConnectionDialog);
    bannerLayout->addWidget(m_bannerText, 1);
    bannerLayout->addWidget(bannerButton);
    m_banner->hide();
    layout->addWidget(m_banner);

    m_splitter = new QSplitter(Qt::Horizontal, central);
    m_view = new QTreeView(m_splitter);
    m_view->setObjectName(QStringLiteral("orderTree"));
    m_delegate = new StepStatusDelegate(m_view);
    m_view->setItemDelegate(m_delegate);
    m_view->setModel(m_proxy);
    m_view->setUniformRowHeights(true);
    m_view->setAlternatingRowColors(true);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(OrderTreeModel::OrderNumberColumn, Qt::DescendingOrder);
    m_view->setAllColumnsShowFocus(true);
    m_view->setExpandsOnDoubleClick(true);
    m_view->header()->setSectionsMovable(true);
    takeSpareWidthInTheErrorColumn();
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { onCurrentChanged(current); });
    m_emptyView = new QLabel(m_view->viewport());
    m_emptyView->setObjectName(QStringLiteral("emptyView"));
    m_emptyView->setAlignment(Qt::AlignCenter);
    m_emptyView->setWordWrap(true);
    m_emptyView->setEnabled(false); // drawn greyed, like a placeholder
    m_emptyView->setAttribute(Qt::WA_TransparentForMouseEvents);
    m_view->viewport()->installEventFilter(this);
    keepRowsInPlaceWhileScrolled();

    m_detail = new DetailPanel(m_model, m_splitter);
    m_detail->setMinimumWidth(360);
    connect(m_detail, &DetailPanel::message, this, &MainWindow::showMessage);
    connect(m_detail, &DetailPanel::retryAvailabilityChanged, m_retryAction, &QAction::setEnabled);
    connect(m_retryAction, &QAction::triggered, m_detail, &DetailPanel::retry);
    connect(m_copyJsonAction, &QAction::triggered, m_detail, &DetailPanel::copyStatusJson);
    connect(m_exportAction, &QAction::triggered, m_detail, &DetailPanel::exportCase);
    connect(m_expandAction, &QAction::triggered, m_view, &QTreeView::expandAll);
    connect(m_collapseAction, &QAction::triggered, m_view, &QTreeView::collapseAll);
    // The default layout (restoreSettings() brings back the user's): the detail
    // panel as wide as its ids need, the tree the rest of the default window, its
    // columns as wide as what they typically hold. A wider window widens the tree;
    // the detail panel keeps its width.
    const int detailWidth = qMax(m_detail->minimumWidth(), m_detail->preferredWidth());
    const int treeWidth = kDefaultSize.width() - detailWidth - m_splitter->handleWidth();
    setDefaultColumnWidths(treeWidth);
    m_splitter->setStretchFactor(0, 1);
    m_splitter->setStretchFactor(1, 0);
    m_splitter->setSizes({treeWidth, detailWidth});
    layout->addWidget(m_splitter, 1);
    setCentralWidget(central);

    // Docks.
    m_faults = new FailureInjectionPanel(this);
    connect(m_faults, &FailureInjectionPanel::message, this, &MainWindow::showMessage);
    m_faultsDock = new QDockWidget(tr("Failure Injection"), this);
    m_faultsDock->setObjectName(QStringLiteral("failureInjectionDock"));
    m_faultsDock->setWidget(m_faults);
    addDockWidget(Qt::BottomDockWidgetArea, m_faultsDock);
    m_charts = new ChartsPanel(m_model, this);
    m_chartsDock = new QDockWidget(tr("Charts"), this);
    m_chartsDock->setObjectName(QStringLiteral("chartsDock"));
    m_chartsDock->setWidget(m_charts);
    addDockWidget(Qt::BottomDockWidgetArea, m_chartsDock);
    tabifyDockWidget(m_faultsDock, m_chartsDock);
    m_chartsDock->raise();
    QAction *faultsToggle = dockAction(m_faultsDock, QKeySequence(Qt::Key_F8));
    QAction *chartsToggle = dockAction(m_chartsDock, QKeySequence(Qt::Key_F9));

    // Toolbar.
    QToolBar *toolbar = addToolBar(tr("Main"));
    toolbar->setObjectName(QStringLiteral("mainToolBar"));
    toolbar->setMovable(false);
    toolbar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolbar->setIconSize(QSize(16, 16));
    toolbar->addAction(m_newOrderAction);
    toolbar->addAction(m_demoAction);
    toolbar->addAction(m_retryAction);
    toolbar->addSeparator();
    m_search = new QLineEdit(toolbar);
    m_search->setObjectName(QStringLiteral("search"));
    m_search->setPlaceholderText(tr("Search order id, number, customer or error (Ctrl+F)"));
    m_search->setClearButtonEnabled(true);
    m_search->setMinimumWidth(320);
    connect(m_search, &QLineEdit::textChanged, this,
            [this](const QString &text) { refilter([&] { m_proxy->setSearchText(text); }); });
    toolbar->addWidget(m_search);
    m_statusFilter = new QComboBox(toolbar);
    m_statusFilter->setObjectName(QStringLiteral("statusFilter"));
    for (const StatusChoice &c : kStatusChoices) {
        if (c.icon)
            m_statusFilter->addItem(StatusIcons::icon(QLatin1String(c.icon)), tr(c.label), c.mask);
        else
            m_statusFilter->addItem(tr(c.label), c.mask);
    }
    connect(m_statusFilter, &QComboBox::currentIndexChanged, this, [this] {
        refilter([this] { m_proxy->setStatusMask(m_statusFilter->currentData().toUInt()); });
    });
    toolbar->addWidget(m_statusFilter);
    auto *spacer = new QWidget(toolbar);
    spacer->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    toolbar->addWidget(spacer);
    toolbar->addAction(m_utcAction);
    toolbar->addAction(m_connectAction);

    // Menus.
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_connectAction);
    file->addAction(m_exportAction);
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    QMenu *orders = menuBar()->addMenu(tr("&Orders"));
    orders->addAction(m_newOrderAction);
    orders->addAction(m_demoAction);
    orders->addSeparator();
    orders->addAction(m_retryAction);
    orders->addAction(m_copyJsonAction);
    orders->addAction(m_exportAction);
    QMenu *view = menuBar()->addMenu(tr("&View"));
    view->addAction(m_searchAction);
    view->addAction(m_utcAction);
    view->addSeparator();
    view->addAction(m_expandAction);
    view->addAction(m_collapseAction);
    view->addSeparator();
    view->addAction(faultsToggle);
    view->addAction(chartsToggle);
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&Keyboard Shortcuts"), this,
                    [this] { QMessageBox::information(this, tr("Keyboard Shortcuts"), shortcutsHtml()); });
    help->addSeparator();
    help->addAction(tr("&About Saga Console"), this,
                    [this] { QMessageBox::about(this, tr("About Saga Console"), aboutText()); });
}

void MainWindow::setDefaultColumnWidths(int treeWidth)
{
    // From the font in use: the header's title, and what the column typically
    // holds, whole. (Fixed widths added up to 1,085 px in the 790 px the tree had
    // at the default window size: "Last updated" and "ETA" were off-screen.)
    QHeaderView *header = m_view->header();
    const QFontMetrics headerMetrics(header->font());
    const int headerMargin = header->style()->pixelMetric(QStyle::PM_HeaderMargin, nullptr, header);
    std::array<int, OrderTreeModel::ColumnCount> widths{};
    for (int c = 0; c < OrderTreeModel::ColumnCount; ++c) {
        const QString title = m_model->headerData(c, Qt::Horizontal, Qt::DisplayRole).toString();
        widths[size_t(c)] = headerMetrics.horizontalAdvance(title) + 2 * headerMargin;
    }
    auto fit = [&](int column, int indent, const QString &text) {
        const int width = indent + StepStatusDelegate::orderCellWidth(m_view, column, text);
        widths[size_t(column)] = qMax(widths[size_t(column)], width);
    };
    const int indent = m_view->indentation(); // the expand arrow's column; step rows one level in
    fit(OrderTreeModel::OrderNumberColumn, indent, QStringLiteral("ORD-00000000-000000"));
    for (SagaStep step : kAllSteps) {
        fit(OrderTreeModel::OrderNumberColumn, 2 * indent, stepDisplayName(step));
        fit(OrderTreeModel::CurrentStepColumn, 0, stepDisplayName(step));
    }
    // The customer id's first groups; it is whole in the tooltip and the detail panel.
    fit(OrderTreeModel::CustomerColumn, 0, QStringLiteral("00000000-0000"));
    for (int s = 0; s < kOverallStatusCount; ++s)
        fit(OrderTreeModel::StatusColumn, 0, toString(OverallStatus(s)));
    for (int s = 0; s < kStepStatusCount; ++s)
        fit(OrderTreeModel::StatusColumn, 0, toString(StepStatus(s)));
    fit(OrderTreeModel::ProgressColumn, 0, QStringLiteral("100 %"));
    const QString time = QStringLiteral("0000-00-00 00:00:00"); // the model's yyyy-MM-dd HH:mm:ss
    fit(OrderTreeModel::LastUpdatedColumn, 0, time);
    fit(OrderTreeModel::EtaColumn, 0, time);

    // What is left of the tree's width goes to the error messages (and whatever a
    // wider window adds: fitErrorColumn()).
    m_errorColumnMinWidth = widths[OrderTreeModel::CurrentStepColumn];
    const int viewport = treeWidth - 2 * m_view->frameWidth()
                         - m_view->style()->pixelMetric(QStyle::PM_ScrollBarExtent, nullptr, m_view);
    const int spare = viewport - std::accumulate(widths.begin(), widths.end(), 0);
    if (spare > 0)
        widths[OrderTreeModel::CurrentStepColumn] += spare;
    const QScopedValueRollback<bool> fitting(m_fittingErrorColumn, true);
    for (int c = 0; c < OrderTreeModel::ColumnCount; ++c)
        header->resizeSection(c, widths[size_t(c)]);
}

void MainWindow::takeSpareWidthInTheErrorColumn()
{
    // The error messages are what gets cut short; the other columns hold text of a
    // known width (setDefaultColumnWidths()). With the last section stretched, a
    // wide window (2560 px) widened the ETA column over empty space while
    // "Current step / Error" stayed at its default width and cut its messages.
    // Not QHeaderView::Stretch: that section shrinks to nothing in a narrow window
    // (the step names cut) where the tree should scroll sideways instead.
    QHeaderView *header = m_view->header();
    header->setStretchLastSection(false); // (a saved header state brings it back)
    connect(header, &QHeaderView::sectionResized, this, [this](int logical, int, int newSize) {
        if (m_fittingErrorColumn)
            return;
        if (logical == OrderTreeModel::CurrentStepColumn)
            m_errorColumnMinWidth = newSize; // dragged by the user: at least that wide from now on
        fitErrorColumn();
    });
}

void MainWindow::fitErrorColumn()
{
    const QHeaderView *header = m_view->header();
    const int error = OrderTreeModel::CurrentStepColumn;
    int others = 0;
    for (int c = 0; c < header->count(); ++c) {
        if (c != error && !header->isSectionHidden(c))
            others += header->sectionSize(c);
    }
    const int width = qMax(m_errorColumnMinWidth, m_view->viewport()->width() - others);
    if (header->sectionSize(error) == width)
        return;
    const QScopedValueRollback<bool> fitting(m_fittingErrorColumn, true);
    m_view->header()->resizeSection(error, width);
}

QAction *MainWindow::dockAction(QDockWidget *dock, const QKeySequence &shortcut)
{
    // The docks share one tabbed area. The dock's own toggleViewAction() only
    // shows or closes it: with the dock open behind the other tab, F8 closed it
    // (and a second F8 showed it, still behind). This one brings the dock to the
    // front unless it is already there, and closes it only then. Checked means
    // "in front" (QDockWidget::visibilityChanged follows the tabs too).
    auto *action = new QAction(dock->windowTitle(), this);
    action->setCheckable(true);
    action->setShortcut(shortcut);
    action->setToolTip(tr("Show the %1 panel in front, or close it when it is (%2)")
                           .arg(dock->windowTitle(), shortcut.toString(QKeySequence::NativeText)));
    connect(dock, &QDockWidget::visibilityChanged, action, &QAction::setChecked);
    connect(action, &QAction::triggered, this, [dock, action](bool) {
        // (A dock behind another tab is not hidden: isVisible() stays true, it
        // just has nothing on screen.)
        const bool inFront = !dock->isHidden() && !dock->visibleRegion().isEmpty();
        if (inFront) {
            dock->close();
        } else {
            dock->show();
            dock->raise(); // its tab, when tabified
        }
        action->setChecked(!inFront);
    });
    return action;
}

QString MainWindow::aboutText() const
{
    const QString version = QCoreApplication::applicationVersion();
    const QString source = m_source ? QStringLiteral("%1: %2").arg(m_source->kindName(), m_source->location())
                                    : tr("none");
    return tr("<p><b>Saga Console</b> %1</p>"
              "<p>Watch order sagas run, find an order, see what happened and retry it.</p>"
              "<p>Data source: %2<br>Qt %3 (built with %4)</p>")
        .arg(version.isEmpty() ? tr("(version unknown)") : version.toHtmlEscaped(), source.toHtmlEscaped(),
             QString::fromLatin1(qVersion()), QStringLiteral(QT_VERSION_STR));
}

QString MainWindow::shortcutsHtml() const
{
    // From the menus themselves, so the list cannot fall behind them.
    QString rows;
    QSet<const QAction *> seen;
    std::function<void(const QList<QAction *> &)> walk = [&](const QList<QAction *> &actions) {
        for (const QAction *a : actions) {
            if (a->menu()) {
                walk(a->menu()->actions());
                continue;
            }
            if (a->shortcut().isEmpty() || seen.contains(a))
                continue;
            seen.insert(a);
            QString text = a->text();
            text.remove(QLatin1Char('&'));
            text.remove(QStringLiteral("…"));
            rows += QStringLiteral("<tr><td style='padding-right:24px'><b>%1</b></td><td>%2</td></tr>")
                        .arg(a->shortcut().toString(QKeySequence::NativeText).toHtmlEscaped(),
                             text.trimmed().toHtmlEscaped());
        }
    };
    walk(menuBar()->actions());
    return QStringLiteral("<table>") + rows + QStringLiteral("</table>");
}

void MainWindow::createStatusBar()
{
    m_sourceLabel = new QLabel(this);
    m_stateLabel = new QLabel(this);
    m_stateLabel->setObjectName(QStringLiteral("connectionState"));
    m_rateLabel = new QLabel(this);
    m_countLabel = new QLabel(this);
    m_countLabel->setObjectName(QStringLiteral("orderCount"));
    m_rateLabel->setMinimumWidth(m_rateLabel->fontMetrics().horizontalAdvance(QStringLiteral("00000 events/s")));
    statusBar()->addPermanentWidget(m_sourceLabel);
    statusBar()->addPermanentWidget(m_stateLabel);
    statusBar()->addPermanentWidget(m_rateLabel);
    statusBar()->addPermanentWidget(m_countLabel);
    connect(m_batcher, &EventBatcher::rateChanged, this, [this](double rate) {
        m_rateLabel->setText(tr("%1 events/s").arg(qRound(rate)));
    });
    m_rateLabel->setText(tr("0 events/s"));
}

// ---- sources --------------------------------------------------------------------

bool MainWindow::connectTo(const SourceSpec &spec)
{
    QString error;
    ProgressSource *source = spec.create(this, &error);
    if (!source) {
        onStateChanged(ProgressSource::State::Failed, error);
        return false;
    }
    setSource(source, spec);
    return true;
}

void MainWindow::setSource(ProgressSource *source, const SourceSpec &spec)
{
    if (m_source) {
        m_source->stop();
        m_source->disconnect(this);
        m_source->disconnect(m_batcher);
        m_source->deleteLater();
    }
    // The old source's answers are dropped with it: an order being placed may have been.
    if (m_newOrderDialog && m_newOrderDialog->isPlacing())
        m_newOrderDialog->showResult(tr("The connection changed before the answer came: the order may have been "
                                        "placed — check the order list."),
                                     false);
    m_batcher->clear();
    m_model->clear(); // (a reset: the view's selection goes without a signal)
    m_hiddenSelection = {};
    m_detail->setOrder({});
    updateOrderActions();
    m_spec = spec;
    m_source = source;
    source->setParent(this);
    connect(source, &ProgressSource::snapshotsReady, m_batcher, &EventBatcher::addSnapshots);
    connect(source, &ProgressSource::eventsReady, m_batcher, &EventBatcher::addEvents);
    connect(source, &ProgressSource::connectionStateChanged, this, &MainWindow::onStateChanged);
    connect(source, &ProgressSource::contentsReplaced, this, [this](const QString &why) {
        // As at a source switch: nothing shown so far is true of what is behind the source now.
        m_batcher->clear();
        m_model->clear();
        m_hiddenSelection = {};
        m_detail->setOrder({});
        updateOrderActions();
        showMessage(why);
    });
    connect(source, &ProgressSource::stepHistoryReady, this,
            [this](const QVector<QPair<SagaStep, qint64>> &durations) {
                m_model->seedEta(durations);
                qCInfo(lcUi) << "ETA seeded with" << durations.size() << "stored step durations";
            });
    connect(source, &ProgressSource::initialLoadFinished, this, [this](int orders) {
        showMessage(orders == 1 ? tr("1 order loaded.") : tr("%1 orders loaded.").arg(QLocale().toString(orders)));
        updateCapabilities();
        updateEmptyView(); // (no row may come: an empty source)
    });
    m_sourceLabel->setText(QStringLiteral("%1: %2").arg(source->kindName(), source->location()));
    m_detail->setSource(source);
    m_faults->setSource(source);
    m_demo->setSource(source);
    updateCapabilities();
    qCInfo(lcUi).noquote() << "source" << source->kindName() << source->location();
    source->start();
    onStateChanged(source->state(), source->stateMessage());
}

void MainWindow::updateCapabilities()
{
    const bool canPlace = m_source && m_source->canPlaceOrders();
    m_newOrderAction->setEnabled(true); // the dialog explains when placing is not possible
    m_demoAction->setEnabled(canPlace || m_demo->isRunning());
    if (m_newOrderDialog)
        m_newOrderDialog->setPlacingEnabled(canPlace,
                                            tr("This source is read-only: connect to the embedded "
                                               "engine or a saga-server to place orders."));
    if (!canPlace && m_demo->isRunning())
        m_demo->setRunning(false);
}

QString MainWindow::connectionText() const
{
    return m_stateLabel->toolTip();
}

void MainWindow::onStateChanged(ProgressSource::State state, const QString &message)
{
    m_stateLabel->setText(QStringLiteral("<span style='color:%1'>●</span> %2")
                              .arg(stateColor(state), ProgressSource::stateName(state)));
    m_stateLabel->setToolTip(message);
    const bool problem = state == ProgressSource::State::Failed || state == ProgressSource::State::Stale
                         || state == ProgressSource::State::Reconnecting;
    if (problem) {
        const bool failed = state == ProgressSource::State::Failed;
        m_banner->setStyleSheet(failed ? QStringLiteral("#banner { background: #FCE8E6; border-bottom: 1px solid #F4B6B0; }")
                                       : QStringLiteral("#banner { background: #FEF7E0; border-bottom: 1px solid #F9DC8C; }"));
        m_bannerText->setText(message);
        m_banner->show();
    } else {
        m_banner->hide();
    }
    // A problem is said in the banner, whole; the status bar (narrowed by the
    // labels on its right) would only repeat it cut short.
    if (problem)
        statusBar()->clearMessage();
    else if (!message.isEmpty())
        statusBar()->showMessage(message, 5000);
    updateEmptyView();
}

// ---- view -----------------------------------------------------------------------

void MainWindow::keepSelectionWhileFiltered()
{
    // QItemSelectionModel moves the current index to a neighbouring row when the
    // current row is removed, which would show (and let the user retry) another
    // order than the one acted on. These run before it, so that move is ignored.
    connect(m_proxy, &QAbstractItemModel::rowsAboutToBeRemoved, this, [this](const QModelIndex &parent, int first, int last) {
        if (parent.isValid() || !m_view)
            return;
        const QModelIndex top = orderRowOf(m_view->currentIndex());
        if (top.isValid() && top.row() >= first && top.row() <= last) {
            m_hiddenSelection = top.data(OrderTreeModel::OrderIdRole).toUuid();
            m_selectionLeaving = true;
        }
    });
    connect(m_proxy, &QAbstractItemModel::rowsRemoved, this, [this] {
        if (!m_selectionLeaving)
            return;
        m_view->selectionModel()->clear();
        m_selectionLeaving = false;
    });
    connect(m_proxy, &QAbstractItemModel::rowsInserted, this, [this](const QModelIndex &parent) {
        if (parent.isValid() || m_hiddenSelection.isNull())
            return;
        QTimer::singleShot(0, this, [this] { // not inside the proxy's insertion
            if (m_hiddenSelection.isNull() || m_view->currentIndex().isValid()
                || m_detail->orderId() != m_hiddenSelection)
                return;
            if (m_proxy->mapFromSource(m_model->indexOf(m_hiddenSelection)).isValid())
                selectOrder(std::exchange(m_hiddenSelection, {}));
        });
    });
}

void MainWindow::keepRowsInPlaceWhileScrolled()
{
    // Newest orders come in at the top. At the top of the list they push the rest
    // down, which is what one watches there; scrolled down, someone is reading or
    // about to click a row, so the rows on screen stay where they are.
    connect(m_proxy, &QAbstractItemModel::rowsAboutToBeInserted, this, [this](const QModelIndex &parent, int first) {
        QScrollBar *bar = m_view->verticalScrollBar();
        if (parent.isValid() || m_refiltering || bar->value() == 0 || m_scrollAnchor.isValid())
            return; // (rows a new filter lets in are no live insertion: refilter())
        const QModelIndex top = m_view->indexAt(QPoint(0, 0));
        if (!top.isValid() || first > orderRowOf(top).row())
            return; // inserted below what is on screen: nothing moves
        m_scrollAnchor = top;
        m_scrollAnchorY = m_view->visualRect(top).top();
    });
    connect(m_proxy, &QAbstractItemModel::rowsInserted, this, [this] {
        if (!m_scrollAnchor.isValid())
            return;
        QTimer::singleShot(0, this, [this] { // once every insertion of this batch is in
            const QModelIndex anchor = std::exchange(m_scrollAnchor, {});
            if (!anchor.isValid())
                return;
            m_view->scrollTo(anchor, QAbstractItemView::PositionAtTop);
            if (m_view->verticalScrollMode() == QAbstractItemView::ScrollPerPixel) {
                QScrollBar *bar = m_view->verticalScrollBar();
                bar->setValue(bar->value() - m_scrollAnchorY);
            }
        });
    });
}

void MainWindow::refilter(const std::function<void()> &change)
{
    // Another search or status filter is another list: it is shown from its top,
    // or around the selected order when the list holds it. Keeping the scroll
    // position (a row index into the old list) showed the matches from far down,
    // the newest ones above the viewport; and the rows let back in when a search
    // was cleared were taken for live insertions and anchored somewhere unrelated.
    const QString search = m_proxy->searchText();
    const OrderFilterProxyModel::StatusMask mask = m_proxy->statusMask();
    m_refiltering = true;
    change();
    m_refiltering = false;
    if (m_proxy->searchText() == search && m_proxy->statusMask() == mask)
        return; // (a space typed at the end: the same list)
    m_scrollAnchor = QPersistentModelIndex();
    QModelIndex current = m_view->currentIndex();
    if (!current.isValid() && !m_hiddenSelection.isNull() && m_detail->orderId() == m_hiddenSelection
        && m_proxy->mapFromSource(m_model->indexOf(m_hiddenSelection)).isValid()) {
        selectOrder(std::exchange(m_hiddenSelection, {})); // back in the results (keepSelectionWhileFiltered())
        current = m_view->currentIndex();
    }
    if (current.isValid())
        m_view->scrollTo(current, QAbstractItemView::PositionAtCenter);
    else
        m_view->scrollToTop();
}

void MainWindow::onCurrentChanged(const QModelIndex &current)
{
    if (m_selectionLeaving)
        return; // keepSelectionWhileFiltered()
    if (current.isValid())
        m_hiddenSelection = {};
    m_detail->setOrder(current.isValid() ? current.data(OrderTreeModel::OrderIdRole).toUuid() : QUuid());
    updateOrderActions();
}

void MainWindow::updateOrderActions()
{
    // They act on the order the detail panel shows. With none (nothing selected
    // yet, or the orders of a source just left: the model's reset clears the
    // view's selection without a signal), Ctrl+E and Ctrl+Shift+C were offered in
    // the menus and did nothing.
    const bool has = !m_detail->orderId().isNull();
    m_copyJsonAction->setEnabled(has);
    m_exportAction->setEnabled(has);
}

QString MainWindow::emptyViewText() const
{
    if (m_proxy->rowCount() > 0)
        return {};
    if (m_model->orderCount() > 0)
        return tr("No order matches the search or the status filter.");
    if (!m_source || m_source->state() == ProgressSource::State::Connecting)
        return tr("Loading orders…");
    // Not "no orders yet" before the source has answered: a saga-server or database
    // that cannot be reached may hold many (the banner says why it is not answering).
    if (m_source->state() == ProgressSource::State::Failed && !m_source->isInitialLoadDone())
        return tr("No orders could be loaded: see the message above.");
    if (!m_source->isInitialLoadDone())
        return tr("No orders loaded yet: see the message above.");
    if (m_source->canPlaceOrders())
        return tr("No orders yet. Place one with Ctrl+N, or start demo traffic with Ctrl+D.");
    return tr("No orders in this source yet. They appear here as an engine runs them.");
}

void MainWindow::updateEmptyView()
{
    const QString text = emptyViewText();
    m_emptyView->setText(text);
    m_emptyView->setGeometry(m_view->viewport()->rect().adjusted(24, 24, -24, -24));
    m_emptyView->setVisible(!text.isEmpty());
}

bool MainWindow::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_view->viewport() && event->type() == QEvent::Resize) {
        updateEmptyView();
        fitErrorColumn();
    }
    return QMainWindow::eventFilter(watched, event);
}

void MainWindow::updateCounts()
{
    updateEmptyView();
    const int total = m_model->orderCount();
    const int shown = m_proxy->rowCount();
    const QLocale locale;
    // (One order is "1 order", as in "1 order loaded.": a database with its first
    // order read "1 orders" in the status bar.)
    if (shown == total)
        m_countLabel->setText(total == 1 ? tr("1 order") : tr("%1 orders").arg(locale.toString(total)));
    else
        m_countLabel->setText(total == 1 ? tr("%1 of 1 order").arg(locale.toString(shown))
                                         : tr("%1 of %2 orders").arg(locale.toString(shown), locale.toString(total)));
}

bool MainWindow::selectOrder(const QUuid &orderId, bool expand)
{
    const QModelIndex source = m_model->indexOf(orderId);
    const QModelIndex index = m_proxy->mapFromSource(source);
    if (!index.isValid())
        return false;
    m_view->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect
                                                         | QItemSelectionModel::Rows);
    if (expand)
        m_view->expand(index);
    m_view->scrollTo(index);
    return true;
}

bool MainWindow::selectFirstOrderWithStatus(OverallStatus status, bool expand)
{
    for (int row = 0; row < m_proxy->rowCount(); ++row) {
        const QModelIndex index = m_proxy->index(row, 0);
        if (index.data(OrderTreeModel::RawStatusRole).toInt() == int(status))
            return selectOrder(index.data(OrderTreeModel::OrderIdRole).toUuid(), expand);
    }
    return false;
}

void MainWindow::focusSearch()
{
    m_search->setFocus(Qt::ShortcutFocusReason);
    m_search->selectAll();
}

void MainWindow::setDisplayUtc(bool utc)
{
    if (m_utcAction->isChecked() != utc)
        m_utcAction->setChecked(utc);
    m_model->setDisplayUtc(utc);
    m_detail->reload();
    // The label stays "Times in UTC" and the check mark says yes or no. Renamed to
    // "Times in local time" while unchecked, View showed an empty box beside
    // "Times in local time" with the times in local time, and the toolbar a raised
    // "Times in local time" button; the tooltip says which way it is.
    m_utcAction->setToolTip(utc ? tr("Times are shown in UTC; uncheck for local time (Ctrl+T)")
                                : tr("Times are shown in local time; check for UTC (Ctrl+T)"));
}

void MainWindow::setDemoRunning(bool running)
{
    if (running && !(m_source && m_source->canPlaceOrders())) {
        showMessage(tr("Demo traffic needs a source that can place orders: the embedded engine or a saga-server."));
        m_demoAction->setChecked(false);
        return;
    }
    m_demo->setRunning(running);
    if (running && !m_demo->isRunning()) { // the source gave up (DemoTraffic stops then)
        showMessage(tr("Demo traffic cannot run: %1").arg(m_source->stateMessage()));
        return;
    }
    if (running)
        showMessage(tr("Demo traffic: %1 orders/min, %2% with failures.")
                        .arg(m_demo->ordersPerMinute())
                        .arg(m_demo->failurePercent()));
}

void MainWindow::showMessage(const QString &text)
{
    statusBar()->showMessage(text, 8000);
}

// ---- dialogs ----------------------------------------------------------------------

void MainWindow::showNewOrderDialog()
{
    if (!m_newOrderDialog) {
        m_newOrderDialog = new NewOrderDialog(m_demo, this);
        connect(m_newOrderDialog, &NewOrderDialog::placeRequested, this, &MainWindow::placeOrder);
        updateCapabilities();
    }
    m_newOrderDialog->show();
    m_newOrderDialog->raise();
    m_newOrderDialog->activateWindow();
}

void MainWindow::placeOrder(const OrderRequest &request)
{
    if (!m_source) {
        if (m_newOrderDialog)
            m_newOrderDialog->showResult(tr("Not connected: connect to a source first (File > Connect)."), false);
        return;
    }
    QPointer<NewOrderDialog> dialog = m_newOrderDialog;
    m_source->placeOrder(request, this, [this, dialog, request](PlaceOrderResult r) {
        const QString order = r.orderNumber.isEmpty() ? r.orderId.toString(QUuid::WithoutBraces) : r.orderNumber;
        // After "may have been placed", the answer to Send again says which way it went.
        const QString text = !r.ok            ? r.error
                             : r.alreadyPlaced ? tr("Order %1 had already been placed by your first attempt; no "
                                                    "second order was made.")
                                                     .arg(order)
                                               : tr("Order %1 placed.").arg(order);
        if (dialog) {
            dialog->showResult(text, r.ok);
            if (r.outcomeUnknown && !r.idempotencyKey.isEmpty()) {
                // Sent again with the same key, it is placed once at most.
                OrderRequest sent = request;
                sent.idempotencyKey = r.idempotencyKey;
                dialog->offerSendAgain(sent);
            }
        }
        showMessage(text);
        if (r.ok && !selectOrder(r.orderId, true))
            m_selectWhenSeen = r.orderId;
    });
}

void MainWindow::showConnectionDialog()
{
    // Offer the source used last (its URLs; never a token) next to the current one.
    SourceSpec initial = m_spec;
    const SourceSpec last = lastSourceSpec();
    if (initial.serverUrl.isEmpty())
        initial.serverUrl = last.serverUrl;
    if (initial.databaseUrl.isEmpty())
        initial.databaseUrl = last.databaseUrl;
    if (m_spec.kind == SourceSpec::Kind::Embedded)
        initial.kind = last.kind;
    ConnectionDialog dialog(initial, this);
    if (dialog.exec() != QDialog::Accepted)
        return;
    connectTo(dialog.spec());
}

// ---- settings ---------------------------------------------------------------------

SourceSpec MainWindow::lastSourceSpec()
{
    QSettings settings;
    SourceSpec spec;
    settings.beginGroup(QStringLiteral("source"));
    spec.kind = SourceSpec::kindFromKey(settings.value(QStringLiteral("kind")).toString())
                    .value_or(SourceSpec::Kind::Embedded);
    const QString sqlite = settings.value(QStringLiteral("sqlitePath")).toString();
    if (!sqlite.isEmpty()) {
        if (auto url = DatabaseUrl::parse(QStringLiteral("sqlite:") + sqlite, nullptr))
            spec.embeddedDatabase = *url;
    }
    spec.serverUrl = settings.value(QStringLiteral("serverUrl")).toUrl();
    spec.databaseUrl = settings.value(QStringLiteral("databaseUrl")).toString();
    return spec;
}

void MainWindow::restoreSettings()
{
    QSettings settings;
    // A saved geometry that is not whole (cut short, edited by hand) can still
    // pass restoreGeometry() with garbage rectangles: a 702x448 window at the
    // top-left. Then, as when there is none or it is refused: the default size,
    // centred on the screen.
    const QByteArray geometry = settings.value(QStringLiteral("window/geometry")).toByteArray();
    if (!isWholeGeometry(geometry) || !restoreGeometry(geometry))
        placeAtDefaultSize();
    // (Restored now, so that what is shown or hidden is right from the start; the
    // docks' sizes once more when shown: showEvent().)
    m_restoredState = settings.value(QStringLiteral("window/state")).toByteArray();
    if (!restoreState(m_restoredState))
        m_restoredState.clear();
    // The columns and the tree | detail split as the user left them. Those saved
    // with the fixed layout before (version 1: columns wider than the default
    // window) give way, once, to the default layout.
    if (settings.value(QStringLiteral("window/layoutVersion"), 1).toInt() == kLayoutVersion) {
        {
            // (The error column's saved width is what filled the window then: no minimum.)
            const QScopedValueRollback<bool> fitting(m_fittingErrorColumn, true);
            m_view->header()->restoreState(settings.value(QStringLiteral("window/treeHeader")).toByteArray());
        }
        m_view->header()->setStretchLastSection(false);
        m_splitter->restoreState(settings.value(QStringLiteral("window/splitter")).toByteArray());
        m_detail->setHistoryHeight(settings.value(QStringLiteral("window/historyHeight"), 0).toInt());
        fitErrorColumn();
    }
    setDisplayUtc(settings.value(QStringLiteral("view/utc"), true).toBool());
    m_demo->setOrdersPerMinute(settings.value(QStringLiteral("demo/ordersPerMinute"), 30).toInt());
    m_demo->setFailurePercent(settings.value(QStringLiteral("demo/failurePercent"), 30).toInt());
    m_demoRate.stored = m_demo->ordersPerMinute();
    m_demoFailures.stored = m_demo->failurePercent();
}

void MainWindow::setDemoForThisRun(std::optional<int> ordersPerMinute, std::optional<int> failurePercent)
{
    if (ordersPerMinute) {
        m_demo->setOrdersPerMinute(*ordersPerMinute);
        m_demoRate.thisRun = m_demo->ordersPerMinute();
    }
    if (failurePercent) {
        m_demo->setFailurePercent(*failurePercent);
        m_demoFailures.thisRun = m_demo->failurePercent();
    }
}

void MainWindow::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/treeHeader"), m_view->header()->saveState());
    settings.setValue(QStringLiteral("window/splitter"), m_splitter->saveState());
    settings.setValue(QStringLiteral("window/historyHeight"), m_detail->historyHeight());
    settings.setValue(QStringLiteral("window/layoutVersion"), kLayoutVersion);
    settings.setValue(QStringLiteral("view/utc"), m_model->displayUtc());
    settings.setValue(QStringLiteral("demo/ordersPerMinute"), m_demoRate.toStore(m_demo->ordersPerMinute()));
    settings.setValue(QStringLiteral("demo/failurePercent"), m_demoFailures.toStore(m_demo->failurePercent()));
    settings.beginGroup(QStringLiteral("source"));
    settings.setValue(QStringLiteral("kind"), SourceSpec::kindKey(m_spec.kind));
    if (!m_spec.embeddedDatabase.isPostgres())
        settings.setValue(QStringLiteral("sqlitePath"), m_spec.embeddedDatabase.path);
    settings.setValue(QStringLiteral("serverUrl"), m_spec.serverUrl);
    // The database URL without its password; the token is never stored.
    if (auto url = DatabaseUrl::parse(m_spec.databaseUrl, nullptr))
        settings.setValue(QStringLiteral("databaseUrl"), url->toString());
    settings.endGroup();
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveSettings();
    m_demo->setRunning(false);
    QMainWindow::closeEvent(event);
}
