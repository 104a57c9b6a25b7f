#pragma once

#include "orderrecord.h"
#include "progresssource.h"

#include <QPointer>
#include <QTimer>
#include <QUuid>
#include <QWidget>
#include <array>

class OrderTreeModel;
class QFormLayout;
class QFrame;
class QLabel;
class QPushButton;
class QScrollArea;
class QSplitter;
class QTreeView;
class TimelineModel;

// Everything about the selected order: status snapshot with the three steps,
// failure reason and suggested action, ETA (late in red), trace id, history
// timeline, retry (enabled only when the source says the order is eligible),
// copy status JSON and export a case file.
//
// Reads the snapshot from the model; asks the source for the history and the
// retry eligibility (asynchronously, debounced while the order changes).
class DetailPanel : public QWidget
{
    Q_OBJECT
public:
    explicit DetailPanel(OrderTreeModel *model, QWidget *parent = nullptr);

    void setSource(ProgressSource *source);
    void setOrder(const QUuid &orderId);
    QUuid orderId() const { return m_orderId; }

    QString statusJson() const;
    QByteArray caseFileJson() const;
    // Writes caseFileJson() to `path`. Before the history and raw events are read
    // (just chosen, or the source away) the file holds the status only: then
    // `incomplete` says why (the file does too, as "incomplete").
    bool exportCaseTo(const QString &path, QString *error, QString *incomplete = nullptr) const;

    // For tests and the main window's actions.
    QPushButton *retryButton() const { return m_retryButton; }
    QPushButton *copyButton() const { return m_copyButton; }
    QPushButton *exportButton() const { return m_exportButton; }
    QString eligibilityText() const;
    bool isCaseLoaded() const { return m_caseLoaded; }
    bool isEligibilityKnown() const { return m_eligibilityKnown; }
    const OrderCase &orderCase() const { return m_case; }
    TimelineModel *timelineModel() const { return m_timeline; }
    QString failureText() const;
    QString etaText() const;
    // What a case file exported now lacks, and why (the history and raw events not read).
    QString missingCaseText() const;
    // Wide enough for the order, customer and trace ids on one line each.
    int preferredWidth() const;
    // The history's height as the user left it by dragging the split above it;
    // 0 while the split follows the details' contents (the default).
    int historyHeight() const;
    void setHistoryHeight(int height);

public Q_SLOTS:
    void copyStatusJson();
    void exportCase();
    void retry();
    void reload(); // history and eligibility again

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

Q_SIGNALS:
    // A sentence for the status bar (result of an action).
    void message(const QString &text);
    void retryAvailabilityChanged(bool available);

private:
    void buildUi();
    void refreshSnapshot();
    void requestCase();
    void requestEligibility();
    void setEligibility(const RetryEligibility &e, const QString &error);
    // The known eligibility says the order's retries are used up (none can happen).
    bool retriesUsedUp() const;
    void setRetryEnabled(bool enabled);
    void onModelDataChanged(const QModelIndex &topLeft, const QModelIndex &bottomRight);
    // The ETA line from the model's EtaRole and IsLateRole (which reads the clock).
    void refreshEta();
    void updateTimelineMinimum();
    void fitTimelineColumns();

    OrderTreeModel *m_model = nullptr;
    QPointer<ProgressSource> m_source;
    QMetaObject::Connection m_sourceState;
    QUuid m_orderId;
    OrderCase m_case;
    bool m_caseLoaded = false;
    // The loaded case says the latest failure came from an injected fault: no
    // correction is needed to retry (SagaJson::failedByInjectedFault()).
    bool m_failureInjected = false;
    RetryEligibility m_eligibility;
    bool m_eligibilityKnown = false;
    int m_lastStatus = -1;
    qint64 m_lastSeq = -1;
    quint64 m_requestSerial = 0;
    QString m_caseError; // why the history and raw events could not be read (empty: loading, or read)
    QTimer m_reloadTimer;
    // While an unfinished order is shown: the ETA line is evaluated again every
    // second, as the tree does on every repaint, so it turns late when the time
    // passes without the model announcing anything.
    QTimer m_etaTimer;

    QWidget *m_placeholder = nullptr;
    QWidget *m_content = nullptr;
    QScrollArea *m_scroll = nullptr;
    QSplitter *m_split = nullptr; // details | history
    QLabel *m_statusIcon = nullptr;
    QLabel *m_title = nullptr;
    QLabel *m_subtitle = nullptr;
    QLabel *m_orderIdLabel = nullptr;
    QLabel *m_customer = nullptr;
    QLabel *m_trace = nullptr;
    QLabel *m_attempt = nullptr;
    QLabel *m_created = nullptr;
    QLabel *m_updated = nullptr;
    QLabel *m_eta = nullptr;
    QLabel *m_outcome = nullptr;
    QFormLayout *m_facts = nullptr;
    struct StepRow {
        QLabel *icon = nullptr;
        QLabel *name = nullptr;
        QLabel *status = nullptr;
        QLabel *duration = nullptr;
    };
    std::array<StepRow, 3> m_steps;
    QFrame *m_failureBox = nullptr;
    QLabel *m_failureTitle = nullptr;
    QLabel *m_failureAction = nullptr;
    QLabel *m_eligibilityLabel = nullptr;
    QPushButton *m_retryButton = nullptr;
    QPushButton *m_copyButton = nullptr;
    QPushButton *m_exportButton = nullptr;
    QTreeView *m_timelineView = nullptr;
    TimelineModel *m_timeline = nullptr;
    QLabel *m_timelineState = nullptr;
};
