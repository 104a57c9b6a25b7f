#pragma once

#include "progresssource.h"
#include "sagastatus.h"
#include "sourcespec.h"

#include <QMainWindow>
#include <QPointer>
#include <QTimer>
#include <QPersistentModelIndex>
#include <QUuid>
#include <functional>
#include <optional>

class ChartsPanel;
class DemoTraffic;
class DetailPanel;
class EventBatcher;
class FailureInjectionPanel;
class NewOrderDialog;
class OrderFilterProxyModel;
class OrderTreeModel;
class QAction;
class QComboBox;
class QDockWidget;
class QFrame;
class QKeySequence;
class QLabel;
class QLineEdit;
class QPushButton;
class QSplitter;
class QTreeView;
class StepStatusDelegate;

// The console: the live order tree (OrderTreeModel -> OrderFilterProxyModel ->
// QTreeView with the StepStatusDelegate), the detail panel of the selected
// order, failure injection and charts as docks, the status bar (source, live /
// stale, events/s, orders). Owns the current ProgressSource and swaps it at
// runtime (File > Connect). Wiring only: rules live in model/ and app/sources.
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    // Replaces the current source with a new one built from `spec` and starts it.
    // Returns false (and shows why) when the spec is not usable.
    bool connectTo(const SourceSpec &spec);
    // Takes ownership of an already built (not started) source.
    void setSource(ProgressSource *source, const SourceSpec &spec);
    ProgressSource *source() const { return m_source; }
    const SourceSpec &sourceSpec() const { return m_spec; }

    OrderTreeModel *model() const { return m_model; }
    OrderFilterProxyModel *proxyModel() const { return m_proxy; }
    QTreeView *treeView() const { return m_view; }
    StepStatusDelegate *delegate() const { return m_delegate; }
    DetailPanel *detailPanel() const { return m_detail; }
    FailureInjectionPanel *failurePanel() const { return m_faults; }
    ChartsPanel *chartsPanel() const { return m_charts; }
    DemoTraffic *demoTraffic() const { return m_demo; }
    EventBatcher *eventBatcher() const { return m_batcher; }
    QLineEdit *searchField() const { return m_search; }
    QComboBox *statusFilter() const { return m_statusFilter; }
    QString connectionText() const;
    // What the tree shows when it has no rows (empty while it has some).
    QString emptyViewText() const;
    // Help > Keyboard Shortcuts: every menu action with a shortcut.
    QString shortcutsHtml() const;
    // Help > About Saga Console: version, Qt version, the data source in use.
    QString aboutText() const;
    static constexpr QSize kDefaultSize{1360, 860};

    bool selectOrder(const QUuid &orderId, bool expand = false);
    // Selects (and optionally expands) the most recent order with `status`.
    bool selectFirstOrderWithStatus(OverallStatus status, bool expand);

    // Window geometry, dock and column layout, preferences. A saved geometry that
    // is missing, refused or not whole gives the default size, centred.
    void restoreSettings();
    void saveSettings() const;
    // Demo rate and failure share given for this run only (the command line): the
    // stored preferences stay as they were, unless changed in the window meanwhile.
    void setDemoForThisRun(std::optional<int> ordersPerMinute, std::optional<int> failurePercent);
    static SourceSpec lastSourceSpec(); // from the settings (never a token)

public Q_SLOTS:
    void showNewOrderDialog();
    void showConnectionDialog();
    void setDemoRunning(bool running);
    void setDisplayUtc(bool utc);
    void focusSearch();

protected:
    void closeEvent(QCloseEvent *event) override;
    void showEvent(QShowEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void createActions();
    void createWidgets();
    void createStatusBar();
    void placeAtDefaultSize();
    // Column widths for a tree `treeWidth` px wide: every column's usual content whole.
    void setDefaultColumnWidths(int treeWidth);
    // "Current step / Error" takes the width the other columns leave, never less
    // than its usual content (or the width the user dragged it to).
    void takeSpareWidthInTheErrorColumn();
    void fitErrorColumn();
    // F8 / F9 and the View menu entries of the tabbed docks.
    QAction *dockAction(QDockWidget *dock, const QKeySequence &shortcut);
    void onCurrentChanged(const QModelIndex &current);
    void updateOrderActions();
    void keepSelectionWhileFiltered();
    void keepRowsInPlaceWhileScrolled();
    // Runs `change` (a new search text or status filter) and then shows the
    // selected order if the results hold it, else the top of the results.
    void refilter(const std::function<void()> &change);
    void onStateChanged(ProgressSource::State state, const QString &message);
    void updateCapabilities();
    void updateCounts();
    void updateEmptyView();
    void placeOrder(const OrderRequest &request);
    void showMessage(const QString &text);

    SourceSpec m_spec;
    QPointer<ProgressSource> m_source;
    OrderTreeModel *m_model = nullptr;
    OrderFilterProxyModel *m_proxy = nullptr;
    EventBatcher *m_batcher = nullptr;
    DemoTraffic *m_demo = nullptr;
    StepStatusDelegate *m_delegate = nullptr;
    QTreeView *m_view = nullptr;
    QSplitter *m_splitter = nullptr;
    DetailPanel *m_detail = nullptr;
    FailureInjectionPanel *m_faults = nullptr;
    ChartsPanel *m_charts = nullptr;
    QDockWidget *m_faultsDock = nullptr;
    QDockWidget *m_chartsDock = nullptr;
    QPointer<NewOrderDialog> m_newOrderDialog;
    QLineEdit *m_search = nullptr;
    QComboBox *m_statusFilter = nullptr;
    QFrame *m_banner = nullptr;
    QLabel *m_bannerText = nullptr;
    QLabel *m_sourceLabel = nullptr;
    QLabel *m_stateLabel = nullptr;
    QLabel *m_rateLabel = nullptr;
    QLabel *m_countLabel = nullptr;
    QLabel *m_emptyView = nullptr; // over the tree's viewport when no row is shown
    QTimer m_countTimer;
    QUuid m_selectWhenSeen;
    // The selected order left the filtered view (its status changed, the filter
    // did): the detail panel keeps it, the tree selects nothing else meanwhile,
    // and it is selected again when it comes back into view.
    QUuid m_hiddenSelection;
    bool m_selectionLeaving = false;
    // Scrolled down, the row at the top of the tree stays there while newer
    // orders are inserted above it (keepRowsInPlaceWhileScrolled()).
    QPersistentModelIndex m_scrollAnchor;
    int m_scrollAnchorY = 0;
    static constexpr int kLayoutVersion = 2; // of the saved column widths and split
    static constexpr int kDockHeight = 250;  // in the default window
    QByteArray m_restoredState; // the user's dock layout, until shown (restoreSettings(), showEvent())
    bool m_dockHeightSet = false;
    int m_errorColumnMinWidth = 0;
    bool m_fittingErrorColumn = false; // inside fitErrorColumn() (or a layout of our own)
    bool m_refiltering = false; // inside refilter(): rows come and go, nothing is inserted live
    struct DemoPreference {
        int stored = 30;            // as read from (and written back to) the settings
        std::optional<int> thisRun; // the command line's value, not stored
        int toStore(int now) const { return thisRun && *thisRun == now ? stored : now; }
    };
    DemoPreference m_demoRate;
    DemoPreference m_demoFailures;

    QAction *m_newOrderAction = nullptr;
    QAction *m_demoAction = nullptr;
    QAction *m_retryAction = nullptr;
    QAction *m_copyJsonAction = nullptr;
    QAction *m_exportAction = nullptr;
    QAction *m_utcAction = nullptr;
    QAction *m_connectAction = nullptr;
    QAction *m_searchAction = nullptr;
    QAction *m_expandAction = nullptr;
    QAction *m_collapseAction = nullptr;
};
