#include "detailpanel.h"

#include "failurecatalog.h"
#include "ordertreemodel.h"
#include "retrydialog.h"
#include "sagajson.h"
#include "sagalog.h"
#include "statusicons.h"
#include "stepstatusdelegate.h"
#include "timelinemodel.h"

#include <QApplication>
#include <QClipboard>
#include <QFileDialog>
#include <QFontDatabase>
#include <QFormLayout>
#include <QFrame>
#include <QGridLayout>
#include <QHeaderView>
#include <QJsonDocument>
#include <QLabel>
#include <QPushButton>
#include <QResizeEvent>
#include <QSaveFile>
#include <QSplitter>
#include <QSplitterHandle>
#include <QScrollArea>
#include <QScrollBar>
#include <QStackedLayout>
#include <QStandardPaths>
#include <QStyle>
#include <QTreeView>
#include <QVBoxLayout>

namespace {
// "$1,234.56" in the user's digit grouping, from whole cents (no rounding through
// a double: totals reach 2^53 cents). The amounts are dollars whatever the locale.
QString dollars(qint64 cents)
{
    const QLocale locale;
    return QStringLiteral("$%1%2%3")
        .arg(locale.toString(cents / 100), locale.decimalPoint())
        .arg(cents % 100, 2, 10, QLatin1Char('0'));
}
} // namespace

namespace {
QLabel *selectableLabel(QWidget *parent)
{
    auto *label = new QLabel(parent);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    label->setWordWrap(true);
    return label;
}

QString durationText(qint64 ms)
{
    if (ms < 0)
        return {};
    if (ms < 10000)
        return QStringLiteral("%1 ms").arg(ms);
    return QStringLiteral("%1 s").arg(double(ms) / 1000.0, 0, 'f', 1);
}

// The API's reasons are phrases ("retry cooldown period not elapsed"): shown as
// a sentence, capitalised and ended, so a sentence can follow.
QString sentence(const QString &reason)
{
    QString text = reason.trimmed();
    if (text.isEmpty())
        return text;
    text[0] = text.at(0).toUpper();
    if (!text.endsWith(QLatin1Char('.')) && !text.endsWith(QLatin1Char('!')) && !text.endsWith(QLatin1Char('?')))
        text += QLatin1Char('.');
    return text;
}

QString sectionTitle(const QString &text)
{
    return QStringLiteral("<b>%1</b>").arg(text.toHtmlEscaped());
}

// A scroll area that asks for the height of its contents at its width (a
// QScrollArea asks for the height they had when set, at most 24 lines), and
// asks again when they change: as tall as they are when there is room, scrolling
// when there is not.
class FittingScrollArea : public QScrollArea
{
public:
    using QScrollArea::QScrollArea;

    QSize sizeHint() const override
    {
        QSize hint = QScrollArea::sizeHint();
        if (const QWidget *contents = widget()) {
            const int height = contents->hasHeightForWidth() ? contents->heightForWidth(contents->width())
                                                              : contents->sizeHint().height();
            hint.setHeight(height + 2 * frameWidth());
        }
        return hint;
    }

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (watched == widget()) {
            if (event->type() == QEvent::LayoutRequest)
                updateGeometry();
            else if (event->type() == QEvent::Resize
                     && static_cast<QResizeEvent *>(event)->oldSize().width() != widget()->width())
                updateGeometry(); // wrapped text: another height
        }
        return QScrollArea::eventFilter(watched, event);
    }
};

// The facts | history split. Until the user moves it, the facts get the height
// their contents ask for (or what is left above the history's minimum) and the
// history the rest, again for every order shown and every change of height; once
// moved, the history keeps the height given to it and the facts take what the
// panel gains or loses. A double click on the handle fits it to the contents again.
class FactsHistorySplitter : public QSplitter
{
public:
    explicit FactsHistorySplitter(QWidget *parent)
        : QSplitter(Qt::Vertical, parent)
    {
        setChildrenCollapsible(false);
        connect(this, &QSplitter::splitterMoved, this, [this] { m_historyHeight = sizes().value(1); });
    }

    int historyHeight() const { return m_historyHeight; }
    void setHistoryHeight(int height)
    {
        m_historyHeight = qMax(0, height);
        refit();
    }

protected:
    bool event(QEvent *e) override
    {
        const bool handled = QSplitter::event(e);
        if (e->type() == QEvent::LayoutRequest) // a pane's contents asked for another height
            refit();
        return handled;
    }
    void resizeEvent(QResizeEvent *e) override
    {
        QSplitter::resizeEvent(e);
        refit();
    }
    QSplitterHandle *createHandle() override
    {
        class Handle : public QSplitterHandle
        {
        public:
            Handle(FactsHistorySplitter *splitter)
                : QSplitterHandle(Qt::Vertical, splitter)
                , m_splitter(splitter)
            {
                setToolTip(QObject::tr("Drag to give the history more or less room; double-click to fit the "
                                       "details again"));
            }

        protected:
            void mouseDoubleClickEvent(QMouseEvent *) override { m_splitter->setHistoryHeight(0); }

        private:
            FactsHistorySplitter *m_splitter;
        };
        return new Handle(this);
    }

private:
    void refit()
    {
        if (count() < 2 || !isVisible())
            return;
        const int total = height() - handleWidth();
        if (total <= 0)
            return;
        const int factsMin = widget(0)->minimumSizeHint().height();
        const int historyMin = qMax(widget(1)->minimumSizeHint().height(), widget(1)->minimumHeight());
        int facts = m_historyHeight > 0 ? total - qMax(m_historyHeight, historyMin)
                                        : qMin(widget(0)->sizeHint().height(), total - historyMin);
        facts = qBound(qMin(factsMin, total), facts, total);
        const QList<int> wanted{facts, total - facts};
        if (sizes() != wanted)
            setSizes(wanted);
    }

    int m_historyHeight = 0; // 0: fitted to the contents
};
} // namespace

DetailPanel::DetailPanel(OrderTreeModel *model, QWidget *parent)
    : QWidget(parent)
    , m_model(model)
{
    m_reloadTimer.setSingleShot(true);
    m_reloadTimer.setInterval(250);
    connect(&m_reloadTimer, &QTimer::timeout, this, &DetailPanel::reload);
    m_etaTimer.setInterval(1000);
    connect(&m_etaTimer, &QTimer::timeout, this, &DetailPanel::refreshEta);
    buildUi();
    connect(m_model, &QAbstractItemModel::dataChanged, this, &DetailPanel::onModelDataChanged);
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] { refreshSnapshot(); });
    connect(m_model, &QAbstractItemModel::rowsInserted, this, [this](const QModelIndex &parent) {
        if (!parent.isValid() && !m_orderId.isNull() && m_lastSeq < 0)
            refreshSnapshot();
    });
    setOrder({});
}

void DetailPanel::buildUi()
{
    auto *stack = new QStackedLayout(this);
    m_placeholder = new QLabel(tr("Select an order to see its steps, history and retry options."), this);
    static_cast<QLabel *>(m_placeholder)->setAlignment(Qt::AlignCenter);
    static_cast<QLabel *>(m_placeholder)->setWordWrap(true);
    m_placeholder->setEnabled(false);
    stack->addWidget(m_placeholder);

    // The order page, top to bottom: the header; the summary (what went wrong,
    // retry, the steps, the facts), scrolling when the panel is short; the
    // history, never fewer than three rows, taking the rest of the height; the
    // actions. What a failed order needs first is at the top of what scrolls,
    // so it shows in a short panel too (1024x700 with a dock open).
    auto *page = new QWidget(this);
    auto *pageLayout = new QVBoxLayout(page);
    pageLayout->setContentsMargins(0, 0, 0, 0);
    pageLayout->setSpacing(0);
    stack->addWidget(page);

    // Header: big status icon, order number, status line.
    // (The page's layout has no spacing, so each part sets its own: a sub-layout
    // inherits its parent's.)
    constexpr int kSpacing = 6;
    auto *header = new QHBoxLayout;
    header->setContentsMargins(10, 8, 10, 4);
    header->setSpacing(kSpacing);
    m_statusIcon = new QLabel(page);
    m_statusIcon->setFixedSize(32, 32);
    header->addWidget(m_statusIcon, 0, Qt::AlignTop);
    auto *titles = new QVBoxLayout;
    m_title = selectableLabel(page);
    QFont titleFont = m_title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.35);
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_subtitle = new QLabel(page);
    titles->addWidget(m_title);
    titles->addWidget(m_subtitle);
    header->addLayout(titles, 1);
    pageLayout->addLayout(header);

    m_scroll = new FittingScrollArea(page);
    m_scroll->setWidgetResizable(true);
    m_scroll->setFrameShape(QFrame::NoFrame);
    m_scroll->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Preferred);
    m_content = new QWidget(m_scroll);
    m_scroll->setWidget(m_content);
    auto *split = new FactsHistorySplitter(page);
    m_split = split;
    split->addWidget(m_scroll);
    pageLayout->addWidget(split, 1);

    auto *layout = new QVBoxLayout(m_content);
    layout->setContentsMargins(10, 4, 10, 4);

    // Failure and what to do about it.
    m_failureBox = new QFrame(m_content);
    m_failureBox->setObjectName(QStringLiteral("failureBox"));
    m_failureBox->setStyleSheet(QStringLiteral(
        "#failureBox { background: #FCE8E6; border: 1px solid #F4B6B0; border-radius: 4px; }"
        "#failureBox QLabel { color: #5F1410; }"));
    auto *failureLayout = new QVBoxLayout(m_failureBox);
    m_failureTitle = selectableLabel(m_failureBox);
    m_failureAction = selectableLabel(m_failureBox);
    failureLayout->addWidget(m_failureTitle);
    failureLayout->addWidget(m_failureAction);
    layout->addWidget(m_failureBox);

    // Retry.
    auto *retryRow = new QHBoxLayout;
    m_eligibilityLabel = new QLabel(m_content);
    m_eligibilityLabel->setWordWrap(true);
    m_retryButton = new QPushButton(StatusIcons::icon(QStringLiteral("overall-in-progress")),
                                    tr("&Retry…"), m_content);
    m_retryButton->setToolTip(tr("Run the order's saga again from the first step, with corrections (Ctrl+R)"));
    m_retryButton->setEnabled(false);
    connect(m_retryButton, &QPushButton::clicked, this, &DetailPanel::retry);
    retryRow->addWidget(m_eligibilityLabel, 1);
    retryRow->addWidget(m_retryButton, 0, Qt::AlignTop);
    layout->addLayout(retryRow);

    // Steps.
    layout->addWidget(new QLabel(sectionTitle(tr("Steps")), m_content));
    auto *grid = new QGridLayout;
    grid->setHorizontalSpacing(8);
    for (int i = 0; i < kStepCount; ++i) {
        StepRow &row = m_steps[size_t(i)];
        row.icon = new QLabel(m_content);
        row.icon->setFixedSize(16, 16);
        row.name = new QLabel(stepDisplayName(SagaStep(i)), m_content);
        row.status = new QLabel(m_content);
        row.status->setWordWrap(true); // a long failure message wraps instead of widening the page
        row.duration = new QLabel(m_content);
        row.duration->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
        grid->addWidget(row.icon, i, 0);
        grid->addWidget(row.name, i, 1);
        grid->addWidget(row.status, i, 2);
        grid->addWidget(row.duration, i, 3);
    }
    grid->setColumnStretch(2, 1);
    layout->addLayout(grid);

    // Facts.
    m_facts = new QFormLayout;
    m_facts->setLabelAlignment(Qt::AlignRight);
    m_facts->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    m_orderIdLabel = selectableLabel(m_content);
    m_customer = selectableLabel(m_content);
    m_trace = selectableLabel(m_content);
    m_attempt = new QLabel(m_content);
    m_created = new QLabel(m_content);
    m_updated = new QLabel(m_content);
    m_eta = new QLabel(m_content);
    m_eta->setObjectName(QStringLiteral("eta"));
    m_outcome = selectableLabel(m_content);
    QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    m_orderIdLabel->setFont(mono);
    m_trace->setFont(mono);
    m_facts->addRow(tr("Order id:"), m_orderIdLabel);
    m_facts->addRow(tr("Customer:"), m_customer);
    m_facts->addRow(tr("Trace id:"), m_trace);
    m_facts->addRow(tr("Attempt:"), m_attempt);
    m_facts->addRow(tr("Placed:"), m_created);
    m_facts->addRow(tr("Last update:"), m_updated);
    m_facts->addRow(tr("ETA:"), m_eta);
    m_facts->addRow(tr("Outcome:"), m_outcome);
    layout->addLayout(m_facts);
    layout->addStretch(1);

    // Timeline: outside the scroll area, below the split, three rows at least.
    auto *historyPane = new QWidget(page);
    auto *history = new QVBoxLayout(historyPane);
    history->setContentsMargins(10, 6, 10, 0);
    history->setSpacing(kSpacing);
    auto *timelineHeader = new QHBoxLayout;
    timelineHeader->addWidget(new QLabel(sectionTitle(tr("History")), historyPane));
    m_timelineState = new QLabel(historyPane);
    m_timelineState->setEnabled(false);
    timelineHeader->addWidget(m_timelineState, 1, Qt::AlignRight);
    history->addLayout(timelineHeader);
    m_timeline = new TimelineModel(this);
    m_timelineView = new QTreeView(historyPane);
    m_timelineView->setObjectName(QStringLiteral("history"));
    // (The stretched last section never gets narrower than the default size:
    // 100 px of details beside whole titles overflowed a narrow panel.)
    m_timelineView->header()->setDefaultSectionSize(m_timelineView->header()->minimumSectionSize());
    m_timelineView->setModel(m_timeline);
    m_timelineView->setRootIsDecorated(false);
    m_timelineView->setUniformRowHeights(true);
    m_timelineView->setAlternatingRowColors(true);
    m_timelineView->setSelectionMode(QAbstractItemView::NoSelection);
    // (Ignored: asks for its minimum, takes what is left over.)
    m_timelineView->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Ignored);
    m_timelineView->header()->setSectionResizeMode(TimelineModel::TimeColumn, QHeaderView::ResizeToContents);
    m_timelineView->header()->setStretchLastSection(true);
    m_timelineView->viewport()->installEventFilter(this);
    history->addWidget(m_timelineView, 1);
    split->addWidget(historyPane);
    updateTimelineMinimum();
    connect(m_timeline, &QAbstractItemModel::modelReset, this, [this] {
        updateTimelineMinimum();
        fitTimelineColumns();
    });

    // Actions: outside the scroll area, always visible whatever the panel's height.
    auto *buttons = new QHBoxLayout;
    buttons->setContentsMargins(10, 6, 10, 8);
    buttons->setSpacing(kSpacing);
    m_copyButton = new QPushButton(tr("&Copy status JSON"), page);
    m_copyButton->setToolTip(tr("Copy the order's status (GET /api/orders/{id}/status shape) (Ctrl+Shift+C)"));
    m_exportButton = new QPushButton(tr("&Export case file…"), page);
    m_exportButton->setToolTip(tr("Save the history and raw events as JSON for a ticket (Ctrl+E)"));
    connect(m_copyButton, &QPushButton::clicked, this, &DetailPanel::copyStatusJson);
    connect(m_exportButton, &QPushButton::clicked, this, &DetailPanel::exportCase);
    buttons->addWidget(m_copyButton);
    buttons->addWidget(m_exportButton);
    buttons->addStretch(1);
    pageLayout->addLayout(buttons);
}

void DetailPanel::updateTimelineMinimum()
{
    // Three rows under the column titles (the rows' height once there are rows:
    // the outcome icons can make them taller than a line of text).
    constexpr int kRows = 3;
    const int row = m_timeline->rowCount() > 0 ? m_timelineView->sizeHintForRow(0)
                                               : qMax(fontMetrics().height(), 16) + 4;
    const int height = m_timelineView->header()->sizeHint().height() + kRows * row
                       + 2 * m_timelineView->frameWidth();
    if (height > m_timelineView->minimumHeight())
        m_timelineView->setMinimumHeight(height);
}

void DetailPanel::fitTimelineColumns()
{
    // The time whole; the event's title whole unless that leaves the details
    // less than a third of the width (then cut); the details the rest. (Titles
    // whole always pushed the details out of sight in a narrow panel.)
    const auto *view = static_cast<const QAbstractItemView *>(m_timelineView);
    const int available = m_timelineView->viewport()->width() - view->sizeHintForColumn(TimelineModel::TimeColumn);
    const int title = qMax(view->sizeHintForColumn(TimelineModel::TitleColumn),
                           m_timelineView->header()->sectionSizeHint(TimelineModel::TitleColumn));
    QHeaderView *header = m_timelineView->header();
    header->resizeSection(TimelineModel::TitleColumn,
                          qMax(qMin(title, available * 2 / 3), header->minimumSectionSize()));
}

bool DetailPanel::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_timelineView->viewport() && event->type() == QEvent::Resize
        && static_cast<QResizeEvent *>(event)->oldSize().width() != m_timelineView->viewport()->width())
        fitTimelineColumns();
    return QWidget::eventFilter(watched, event);
}

int DetailPanel::historyHeight() const
{
    return static_cast<FactsHistorySplitter *>(m_split)->historyHeight();
}

void DetailPanel::setHistoryHeight(int height)
{
    static_cast<FactsHistorySplitter *>(m_split)->setHistoryHeight(height);
}

int DetailPanel::preferredWidth() const
{
    // The ids (in the fixed font) beside the widest label, on one line each,
    // with room for the summary's scroll bar.
    int labels = 0;
    for (int row = 0; row < m_facts->rowCount(); ++row) {
        if (const QLayoutItem *item = m_facts->itemAt(row, QFormLayout::LabelRole); item && item->widget())
            labels = qMax(labels, item->widget()->sizeHint().width());
    }
    const int id = QFontMetrics(m_orderIdLabel->font()).horizontalAdvance(QUuid().toString(QUuid::WithoutBraces));
    const QMargins margins = m_content->layout()->contentsMargins();
    const int spacing = qMax(0, m_facts->horizontalSpacing());
    return margins.left() + labels + spacing + id + margins.right()
           + style()->pixelMetric(QStyle::PM_ScrollBarExtent, nullptr, m_scroll) + 8;
}

void DetailPanel::setSource(ProgressSource *source)
{
    disconnect(m_sourceState);
    m_source = source;
    // What the source could not answer while it was away (or said before it went
    // away) is asked again when its state changes.
    // The history too, when it could not be read (the source away as the order was
    // chosen): an order that gets no new event would show the error for good.
    if (source)
        m_sourceState = connect(source, &ProgressSource::connectionStateChanged, this, [this] {
            if (m_orderId.isNull())
                return;
            if (!m_caseLoaded)
                requestCase();
            requestEligibility();
        });
    m_case = {};
    m_caseLoaded = false;
    m_caseError.clear();
    m_failureInjected = false;
    m_eligibilityKnown = false;
    m_timeline->clear();
    m_lastSeq = -1;
    refreshSnapshot();
    reload();
}

void DetailPanel::setOrder(const QUuid &orderId)
{
    if (orderId == m_orderId && !orderId.isNull())
        return;
    m_orderId = orderId;
    m_case = {};
    m_caseLoaded = false;
    m_caseError.clear();
    m_failureInjected = false;
    m_eligibility = {};
    m_eligibilityKnown = false;
    m_lastStatus = -1;
    m_lastSeq = -1;
    m_timeline->clear();
    m_scroll->verticalScrollBar()->setValue(0); // another order: from its header
    static_cast<QStackedLayout *>(layout())->setCurrentIndex(orderId.isNull() ? 0 : 1);
    refreshSnapshot();
    reload();
}

void DetailPanel::onModelDataChanged(const QModelIndex &topLeft, const QModelIndex &bottomRight)
{
    if (m_orderId.isNull())
        return;
    const QModelIndex mine = m_model->indexOf(m_orderId);
    if (!mine.isValid())
        return;
    const QModelIndex top = topLeft.parent().isValid() ? topLeft.parent() : topLeft;
    const QModelIndex bottom = bottomRight.parent().isValid() ? bottomRight.parent() : bottomRight;
    if (mine.row() < top.row() || mine.row() > bottom.row())
        return;
    refreshSnapshot();
}

void DetailPanel::refreshSnapshot()
{
    const OrderProgress *p = m_orderId.isNull() ? nullptr : m_model->order(m_orderId);
    const bool canAct = p != nullptr;
    m_copyButton->setEnabled(canAct);
    m_exportButton->setEnabled(canAct && m_source);
    if (!p) {
        m_title->setText(m_orderId.isNull() ? QString() : tr("Order not loaded yet"));
        m_failureBox->hide();
        m_etaTimer.stop();
        return;
    }
    const QModelIndex row = m_model->indexOf(p->orderId);
    auto cell = [&](int column, int role = Qt::DisplayRole) {
        return m_model->data(row.siblingAtColumn(column), role);
    };
    const QString statusIcon = StatusIcons::iconName(p->overallStatus);
    m_statusIcon->setPixmap(StatusIcons::icon(statusIcon).pixmap(32, 32));
    m_statusIcon->setProperty("iconName", statusIcon);
    m_title->setText(p->orderNumber.isEmpty() ? p->orderId.toString(QUuid::WithoutBraces) : p->orderNumber);
    QString subtitle = cell(OrderTreeModel::StatusColumn).toString();
    if (p->currentStep)
        subtitle += QStringLiteral(" · ") + stepDisplayName(*p->currentStep);
    subtitle += QStringLiteral(" · %1%").arg(p->progressPercent());
    m_subtitle->setText(subtitle);
    m_orderIdLabel->setText(p->orderId.toString(QUuid::WithoutBraces));
    m_customer->setText(p->customerId.isNull() ? tr("unknown") : p->customerId.toString(QUuid::WithoutBraces));
    m_trace->setText(p->traceId.isEmpty() ? tr("none recorded") : p->traceId);
    m_attempt->setText(p->attemptNumber > 1 ? tr("%1 (retried)").arg(p->attemptNumber)
                                            : QString::number(qMax(1, p->attemptNumber)));
    const bool utc = m_model->displayUtc();
    auto when = [utc](const QDateTime &t) {
        if (!t.isValid())
            return QString();
        return utc ? t.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"))
                   : t.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
    };
    m_created->setText(when(p->createdAt));
    m_updated->setText(when(p->lastUpdated));

    refreshEta();

    QString outcome;
    if (!p->confirmationNumber.isEmpty())
        outcome = tr("Confirmed %1").arg(p->confirmationNumber);
    if (p->totalChargedInCents >= 0)
        outcome += (outcome.isEmpty() ? QString() : QStringLiteral(" · "))
                   + tr("charged %1").arg(dollars(p->totalChargedInCents));
    if (outcome.isEmpty())
        outcome = p->isTerminal() ? tr("no charge") : tr("in progress");
    m_outcome->setText(outcome);

    for (SagaStep s : kAllSteps) {
        const StepProgress &step = p->step(s);
        StepRow &r = m_steps[size_t(s)];
        const QString name = StatusIcons::iconName(step.status);
        r.icon->setPixmap(StatusIcons::icon(name).pixmap(16, 16));
        r.icon->setProperty("iconName", name);
        QString status = toString(step.status);
        if (!step.errorCode.isEmpty())
            status += QStringLiteral(" — ") + (step.errorMessage.isEmpty() ? step.errorCode : step.errorMessage);
        r.status->setText(status);
        r.duration->setText(durationText(step.durationMs()));
    }

    // Failure reason and suggested action.
    const QString code = !p->failure.code.isEmpty() ? p->failure.code : QString();
    if (code.isEmpty() && p->failure.message.isEmpty()) {
        m_failureBox->hide();
    } else {
        const FailureInfo info = failureInfo(code);
        QString stepName = p->failedStep ? stepDisplayName(*p->failedStep) : QString();
        m_failureTitle->setText(tr("<b>%1</b>%2: %3")
                                    .arg(stepName.isEmpty() ? tr("Failed") : tr("%1 failed").arg(stepName),
                                         code.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(code),
                                         (p->failure.message.isEmpty() ? info.customerMessage : p->failure.message).toHtmlEscaped()));
        QString action = info.suggestedAction;
        if (retriesUsedUp() && !p->compensationIncomplete) {
            // Instead of "... and retry the order" next to "Maximum retry attempts
            // exceeded" (RetryPolicy): no retry can happen, whatever is corrected.
            action = tr("Nothing more can be done with this order: it has been retried %1 times, as often as it can "
                        "be. The customer can place a new order.")
                         .arg(m_eligibility.retryCount);
        } else if (m_failureInjected && !p->compensationIncomplete) {
            // Not the order's fault: "Correct your shipping address" would send
            // someone after an address that was fine (the history says the same).
            // An injected FRAUD_DETECTED is still never retried.
            action = injectedFailureAction(code);
        } else if (p->compensationIncomplete) {
            // Instead of the failure's own advice: the order cannot be retried (RetryPolicy),
            // and what is left to reverse needs a person.
            QStringList unreversed;
            for (SagaStep st : kAllSteps) {
                if (p->step(st).errorCode == QLatin1String("COMPENSATION_FAILED"))
                    unreversed.append(stepDisplayName(st));
            }
            // No compensation failed: then what is left is the failed step's own call,
            // which did not answer (it may have gone through) and could not be reversed
            // (the engine reverses such a call first, and only the failed step's).
            if (unreversed.isEmpty() && p->failedStep)
                action = tr("%1 did not answer and may have gone through, and it could not be reversed: check that "
                            "service and reverse it by hand. This order cannot be retried.")
                             .arg(stepDisplayName(*p->failedStep));
            else
                action = unreversed.isEmpty()
                    ? tr("Not everything could be reversed: check the step services and reverse what is left by "
                         "hand. This order cannot be retried.")
                    : tr("%1 could not be reversed: check that service and reverse it by hand. This order cannot be "
                         "retried.")
                          .arg(unreversed.join(QStringLiteral(", ")));
        }
        m_failureAction->setText(action.isEmpty() ? QString() : tr("What to do: %1").arg(action));
        m_failureAction->setVisible(!action.isEmpty());
        m_failureBox->show();
    }

    // Status or seq changes: history and eligibility are due again.
    const int status = int(p->overallStatus);
    if (status != m_lastStatus || p->lastSeq != m_lastSeq) {
        const bool statusChanged = status != m_lastStatus;
        m_lastStatus = status;
        m_lastSeq = p->lastSeq;
        if (statusChanged) {
            m_eligibilityKnown = false;
            setEligibility(m_eligibility, {});
        }
        m_reloadTimer.start();
    }
}

void DetailPanel::reload()
{
    requestCase();
    requestEligibility();
}

void DetailPanel::requestCase()
{
    if (m_orderId.isNull() || !m_source)
        return;
    m_timelineState->setText(tr("loading…"));
    const quint64 serial = ++m_requestSerial;
    const QUuid id = m_orderId;
    m_source->loadCase(id, this, [this, serial, id](OrderCase c, QString error) {
        if (id != m_orderId || serial != m_requestSerial) // a newer answer is on its way
            return;
        if (!error.isEmpty()) {
            m_timelineState->setText(error);
            if (!m_caseLoaded)
                m_caseError = error;
            return;
        }
        m_case = c;
        m_caseLoaded = true;
        m_caseError.clear();
        const bool injected = SagaJson::failedByInjectedFault(c.rawEvents);
        if (injected != std::exchange(m_failureInjected, injected)) {
            refreshSnapshot(); // the advice
            if (m_eligibilityKnown && m_eligibility.eligible)
                setEligibility(m_eligibility, {}); // what a retry needs
        }
        m_timeline->setDisplayUtc(m_model->displayUtc());
        m_timeline->setHistory(c.history);
        // The raw events recorded (what the case file exports), not the timeline's
        // rows: several events (a step started and completed) make one row.
        const int events = int(c.rawEvents.size());
        m_timelineState->setText(events == 1 ? tr("1 event recorded")
                                             : tr("%1 events recorded").arg(QLocale().toString(events)));
        m_exportButton->setEnabled(true);
    });
}

void DetailPanel::requestEligibility()
{
    const OrderProgress *p = m_orderId.isNull() ? nullptr : m_model->order(m_orderId);
    const bool failed = p && (p->overallStatus == OverallStatus::Failed
                              || p->overallStatus == OverallStatus::RolledBack);
    if (!p || !failed || !m_source || !m_source->canRetry()) {
        RetryEligibility none;
        if (p && !failed) {
            // What is happening, in the engine's words (RetryPolicy): a failed attempt
            // being reversed (ROLLING_BACK: its steps compensated, or a call that did
            // not answer voided) is no saga still running forward.
            if (p->isTerminal())
                none.reason = tr("Completed orders need no retry.");
            else if (p->overallStatus != OverallStatus::RollingBack)
                none.reason = p->attemptNumber > 1 ? tr("A retry is in progress.") : tr("The saga is still running.");
            else if (p->attemptNumber > 1)
                none.reason = tr("A retry is in progress: its failed attempt is still being reversed; once that has "
                                 "ended the order can be retried again, if its failure allows a retry.");
            else
                none.reason = tr("The order's failed attempt is still being reversed; once that has ended the order "
                                 "can be retried, if its failure allows a retry.");
        } else if (p && m_source && !m_source->canRetry()) {
            none.reason = tr("This source is read-only; retry through the embedded engine or a saga-server.");
        }
        m_eligibilityKnown = p != nullptr;
        setEligibility(none, {});
        return;
    }
    const QUuid id = m_orderId;
    m_eligibilityLabel->setText(tr("Checking whether the order can be retried…"));
    m_source->retryEligibility(id, this, [this, id](RetryEligibility e, QString error) {
        if (id != m_orderId)
            return;
        const bool usedUp = retriesUsedUp();
        m_eligibilityKnown = true;
        setEligibility(e, error);
        if (retriesUsedUp() != usedUp)
            refreshSnapshot(); // the advice
    });
}

bool DetailPanel::retriesUsedUp() const
{
    return m_eligibilityKnown && !m_eligibility.eligible && m_eligibility.maxRetries > 0
           && m_eligibility.retryCount >= m_eligibility.maxRetries;
}

void DetailPanel::setEligibility(const RetryEligibility &e, const QString &error)
{
    m_eligibility = e;
    const bool enable = m_eligibilityKnown && error.isEmpty() && e.eligible && m_source && m_source->canRetry();
    QString text;
    if (!error.isEmpty()) {
        text = error;
    } else if (!m_eligibilityKnown) {
        text = QString();
    } else if (e.eligible) {
        text = tr("Can be retried (%1 of %2 retries used).").arg(e.retryCount).arg(e.maxRetries);
        if (m_failureInjected && !e.requiredActions.isEmpty()) {
            text += QLatin1Char(' ') + tr("The failure was injected: no correction is needed.");
        } else {
            if (e.requiredActions.contains(QLatin1String("UPDATE_PAYMENT_METHOD")))
                text += QLatin1Char(' ') + tr("Ask the customer for another payment method first.");
            if (e.requiredActions.contains(QLatin1String("UPDATE_SHIPPING_ADDRESS")))
                text += QLatin1Char(' ') + tr("Correct the shipping address first.");
        }
    } else {
        text = e.reason.isEmpty() ? tr("This order cannot be retried.") : sentence(e.reason);
        if (e.nextRetryAvailableAt.isValid()) {
            const QString at = m_model->displayUtc()
                                   ? e.nextRetryAvailableAt.toUTC().toString(QStringLiteral("HH:mm:ss 'UTC'"))
                                   : QLocale().toString(e.nextRetryAvailableAt.toLocalTime().time());
            text += QLatin1Char(' ') + tr("Next retry possible at %1.").arg(at);
        }
    }
    m_eligibilityLabel->setText(text);
    setRetryEnabled(enable);
    if (!enable && e.nextRetryAvailableAt.isValid() && error.isEmpty()) {
        const qint64 wait = QDateTime::currentDateTimeUtc().msecsTo(e.nextRetryAvailableAt);
        if (wait > 0 && wait < 3600 * 1000)
            QTimer::singleShot(wait + 200, this, &DetailPanel::requestEligibility);
    }
}

// The panel's button and the window's Retry action (retryAvailabilityChanged) together.
void DetailPanel::setRetryEnabled(bool enabled)
{
    if (m_retryButton->isEnabled() == enabled)
        return;
    if (!enabled && m_retryButton->hasFocus())
        m_scroll->setFocus(Qt::OtherFocusReason); // not the next button, which would scroll the page to it
    m_retryButton->setEnabled(enabled);
    Q_EMIT retryAvailabilityChanged(enabled);
}

void DetailPanel::refreshEta()
{
    const OrderProgress *p = m_orderId.isNull() ? nullptr : m_model->order(m_orderId);
    if (!p) {
        m_etaTimer.stop();
        return;
    }
    // ETA, marked late once past the p95 estimate: the same roles the tree's ETA
    // cell is drawn from.
    const QModelIndex cell = m_model->indexOf(p->orderId, OrderTreeModel::EtaColumn);
    const bool late = cell.data(OrderTreeModel::IsLateRole).toBool();
    const QDateTime eta = cell.data(OrderTreeModel::EtaRole).toDateTime();
    QString text;
    if (p->isTerminal())
        text = tr("finished");
    else if (!eta.isValid())
        text = tr("not known yet");
    else if (m_model->displayUtc())
        text = eta.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"));
    else
        text = eta.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
    if (late && eta.isValid() && !p->isTerminal())
        text = tr("%1 — late (past the p95 estimate)").arg(text);
    if (m_eta->text() != text)
        m_eta->setText(text);
    m_eta->setProperty("late", late);
    const QString style = late ? QStringLiteral("color: %1; font-weight: bold;").arg(StepStatusDelegate::lateColor().name())
                               : QString();
    if (m_eta->styleSheet() != style) // (a new style sheet re-polishes the label)
        m_eta->setStyleSheet(style);
    if (p->isTerminal())
        m_etaTimer.stop();
    else if (!m_etaTimer.isActive())
        m_etaTimer.start();
}

QString DetailPanel::eligibilityText() const
{
    return m_eligibilityLabel->text();
}

QString DetailPanel::failureText() const
{
    return m_failureBox->isVisible() || !m_failureBox->isHidden()
               ? m_failureTitle->text() + QLatin1Char('\n') + m_failureAction->text()
               : QString();
}

QString DetailPanel::etaText() const
{
    return m_eta->text();
}

void DetailPanel::retry()
{
    const OrderProgress *p = m_orderId.isNull() ? nullptr : m_model->order(m_orderId);
    if (!p || !m_source || !m_retryButton->isEnabled())
        return;
    const QUuid id = m_orderId;
    const QString number = p->orderNumber;
    RetryDialog dialog(number, m_eligibility, this);
    if (m_failureInjected)
        dialog.setFailureInjected();
    if (m_caseLoaded && m_case.record)
        dialog.setCurrentOrder(m_case.record->paymentMethodId, m_case.record->shippingAddress);
    if (dialog.exec() != QDialog::Accepted)
        return;
    // Events went on while the dialog was open: the orders may have been dropped and
    // loaded again (a saga-server back on other data), the panel emptied, `p` gone.
    if (m_orderId != id || !m_model->order(id) || !m_source) {
        Q_EMIT message(tr("%1 was not retried: the orders were loaded again while the retry dialog was open. Choose "
                          "the order again to retry it.")
                           .arg(number));
        return;
    }
    const RetryRequest request = dialog.request(id);
    setRetryEnabled(false);
    m_source->retry(request, this, [this, number](RetryDecision d) {
        if (d.code == RetryDecision::Accepted)
            Q_EMIT message(tr("Retry of %1 started (attempt %2).").arg(number).arg(d.attemptNumber));
        else if (d.outcomeUnknown) // sent, no answer: not a refusal
            Q_EMIT message(tr("Retry of %1: outcome unknown. %2").arg(number, d.reason));
        else
            Q_EMIT message(tr("%1 was not retried: %2").arg(number, d.reason));
        requestEligibility();
    });
}

QString DetailPanel::statusJson() const
{
    const OrderProgress *p = m_orderId.isNull() ? nullptr : m_model->order(m_orderId);
    if (!p)
        return {};
    return QString::fromUtf8(QJsonDocument(SagaJson::statusToJson(*p, p->traceId)).toJson(QJsonDocument::Indented));
}

void DetailPanel::copyStatusJson()
{
    const QString json = statusJson();
    if (json.isEmpty())
        return;
    QApplication::clipboard()->setText(json);
    Q_EMIT message(tr("Status JSON of %1 copied to the clipboard.").arg(m_title->text()));
}

QByteArray DetailPanel::caseFileJson() const
{
    const OrderProgress *p = m_orderId.isNull() ? nullptr : m_model->order(m_orderId);
    if (!p)
        return {};
    QJsonObject root;
    root.insert(QLatin1String("exportedAt"), SagaJson::formatTimestamp(QDateTime::currentDateTimeUtc()));
    if (m_source)
        root.insert(QLatin1String("source"), QStringLiteral("%1 %2").arg(m_source->kindName(), m_source->location()));
    root.insert(QLatin1String("status"), SagaJson::statusToJson(*p, p->traceId));
    if (m_caseLoaded) {
        root.insert(QLatin1String("history"), SagaJson::historyToJson(m_case.history));
        root.insert(QLatin1String("events"), m_case.rawEvents);
    } else {
        // Said in the file too: one attached to a ticket is read without the console.
        root.insert(QLatin1String("incomplete"), missingCaseText());
    }
    return QJsonDocument(root).toJson(QJsonDocument::Indented);
}

QString DetailPanel::missingCaseText() const
{
    return m_caseError.isEmpty()
        ? tr("The order's history and raw events are not in this file: they were still being read.")
        : tr("The order's history and raw events are not in this file: they could not be read (%1)").arg(m_caseError);
}

bool DetailPanel::exportCaseTo(const QString &path, QString *error, QString *incomplete) const
{
    const QByteArray json = caseFileJson();
    QSaveFile file(path);
    if (json.isEmpty() || !file.open(QIODevice::WriteOnly) || file.write(json) != json.size() || !file.commit()) {
        if (error)
            *error = json.isEmpty() ? tr("Select an order first.")
                                    : tr("Could not write %1 (%2). Choose another folder.").arg(path, file.errorString());
        return false;
    }
    if (incomplete)
        *incomplete = m_caseLoaded ? QString() : missingCaseText();
    return true;
}

void DetailPanel::exportCase()
{
    const OrderProgress *p = m_orderId.isNull() ? nullptr : m_model->order(m_orderId);
    if (!p)
        return;
    const QString suggested = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation)
                              + QStringLiteral("/case-%1.json").arg(p->orderNumber.isEmpty() ? p->orderId.toString(QUuid::WithoutBraces) : p->orderNumber);
    const QString path = QFileDialog::getSaveFileName(this, tr("Export case file"), suggested,
                                                      tr("JSON files (*.json)"));
    if (path.isEmpty())
        return;
    QString error;
    QString incomplete;
    if (exportCaseTo(path, &error, &incomplete) && incomplete.isEmpty())
        Q_EMIT message(tr("Case file saved to %1.").arg(QDir::toNativeSeparators(path)));
    else if (error.isEmpty()) // (saved, without the history: export again once the History shows it)
        Q_EMIT message(tr("Case file saved to %1 with the order's status only. %2 Export it again once the History "
                          "shows them.")
                           .arg(QDir::toNativeSeparators(path), incomplete));
    else
        Q_EMIT message(error);
}
