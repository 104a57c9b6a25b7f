#include "chartspanel.h"

#include "ordertreemodel.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QFontMetrics>
#include <QHBoxLayout>
#include <QStackedBarSeries>
#include <QValueAxis>

namespace {
const QColor kStepColors[kStepCount] = {QColor(0x1A, 0x73, 0xE8), QColor(0xF2, 0x99, 0x00),
                                        QColor(0x12, 0x8C, 0x7E)};
const QColor kCompleted(0x18, 0x80, 0x38);
const QColor kRolledBack(0x84, 0x30, 0xCE);
const QColor kFailed(0xD9, 0x30, 0x25);

QString msText(qint64 ms)
{
    return ms < 0 ? QStringLiteral("–") : QStringLiteral("%1").arg(ms);
}

// The height below which Qt Charts cuts the axis titles to "..." and the outcome
// chart's upright minute labels to "10:..." (they shrink with the plot; the
// count labels are spaced, not cut: setCountRange()). Measured with the charts'
// usual content: 185 px with a 14 px line, 215 with 18, 260 with 25; this adds
// a little. (The docked charts had 160 px: in a dock restored at 212 px, or at
// 1024x700, every label read "...".)
int minimumChartHeight(const QFontMetrics &metrics)
{
    return 7 * metrics.height() + 96;
}

QChartView *makeView(const QString &title, QWidget *parent)
{
    auto *chart = new QChart; // owned by the view
    chart->setTitle(title);
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->legend()->setShowToolTips(true); // an entry cut short in a narrow window, whole
    chart->setMargins(QMargins(4, 4, 4, 4));
    auto *view = new QChartView(chart, parent);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumSize(320, minimumChartHeight(view->fontMetrics()));
    return view;
}

// A count axis from 0 that reads cleanly: whole-number ticks 1, 2 or 5 × 10^k
// apart, at most six intervals, the top a multiple of the step at or above
// `maxCount`. (QValueAxis spreads its ticks evenly over the range, so a range of
// 0..9 with five ticks put them at 0, 2.25, 4.5, 6.75 and 9, printed as 0, 2, 4, 6, 9.)
void setCountRange(QValueAxis *axis, int maxCount)
{
    constexpr int kMaxIntervals = 6;
    const int wanted = std::max(4, maxCount);
    int step = 1;
    for (int magnitude = 1;; magnitude *= 10) {
        int multiple = 0;
        for (int m : {1, 2, 5}) {
            if ((wanted + m * magnitude - 1) / (m * magnitude) <= kMaxIntervals) {
                multiple = m;
                break;
            }
        }
        if (multiple) {
            step = multiple * magnitude;
            break;
        }
    }
    const int intervals = (wanted + step - 1) / step;
    axis->setTickType(QValueAxis::TicksFixed);
    axis->setRange(0, intervals * step);
    axis->setTickCount(intervals + 1);
    axis->setMinorTickCount(0);
    axis->setLabelFormat(QStringLiteral("%d"));
    // Qt Charts 6.4 cuts a vertical axis' label to "..." when the axis height
    // divided by the tick count, less the label padding, is below the text's
    // height - at the docked chart's usual 220 px with six intervals, every
    // count label was drawn as "...". A count is read whole or not at all: the
    // axis hides a label that would overlap its neighbour instead.
    axis->setTruncateLabels(false);
}

void clearChart(QChart *chart)
{
    chart->removeAllSeries();
    const auto axes = chart->axes();
    for (QAbstractAxis *axis : axes) {
        chart->removeAxis(axis);
        delete axis; // removeAxis hands ownership back
    }
}
} // namespace

ChartsPanel::ChartsPanel(OrderTreeModel *model, QWidget *parent)
    : QWidget(parent)
    , m_model(model)
{
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_durationView = makeView(tr("Step durations (legend: p50 / p95)"), this);
    m_outcomeView = makeView(tr("Outcomes per minute"), this);
    layout->addWidget(m_durationView, 1);
    layout->addWidget(m_outcomeView, 1);
    m_timer.setInterval(3000);
    connect(&m_timer, &QTimer::timeout, this, &ChartsPanel::refresh);
    m_sliceTimer.setSingleShot(true);
    m_sliceTimer.setInterval(0);
    connect(&m_sliceTimer, &QTimer::timeout, this, &ChartsPanel::computeSlice);
    if (m_model) {
        // Rows counted before a reset are gone: start again.
        connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
            if (m_pending) {
                dropPending();
                refresh();
            }
        });
        // "Times in UTC" toggled (the model repaints its time cells): relabel the
        // minutes now rather than at the next refresh.
        connect(m_model, &QAbstractItemModel::dataChanged, this, [this] {
            if (m_outcomesUtc != m_model->displayUtc() && !outcomeChart()->series().isEmpty())
                rebuildOutcomes();
        });
    }
}

QChart *ChartsPanel::durationChart() const
{
    return m_durationView->chart();
}

QChart *ChartsPanel::outcomeChart() const
{
    return m_outcomeView->chart();
}

void ChartsPanel::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    refresh();
    m_timer.start();
}

void ChartsPanel::hideEvent(QHideEvent *event)
{
    m_timer.stop();
    dropPending();
    QWidget::hideEvent(event);
}

void ChartsPanel::dropPending()
{
    m_sliceTimer.stop();
    m_pending.reset();
}

void ChartsPanel::refresh()
{
    if (!m_model || m_pending)
        return;
    m_pending.emplace(QDateTime::currentDateTimeUtc(), 20, 60);
    m_nextRow = 0;
    computeSlice();
}

void ChartsPanel::computeSlice()
{
    if (!m_model || !m_pending)
        return;
    const int rows = m_model->rowCount();
    const int end = std::min(rows, m_nextRow + kRowsPerSlice);
    m_pending->addRows(*m_model, m_nextRow, end);
    m_nextRow = end;
    if (end < rows) {
        m_sliceTimer.start();
        return;
    }
    m_stats = m_pending->finish();
    m_pending.reset();
    rebuildDurations();
    rebuildOutcomes();
    Q_EMIT refreshed();
}

void ChartsPanel::rebuildDurations()
{
    QChart *chart = m_durationView->chart();
    clearChart(chart);
    // The bins reach past the slowest step's p95; the few slower ones (a step that
    // waited out a database outage takes seconds) share the last, open bin instead
    // of stretching the axis until every normal step falls into one bar.
    qint64 top = 0;
    for (const SagaStatistics::StepDurations &d : m_stats.steps)
        top = std::max(top, d.p95);
    constexpr int kBins = 12;
    qint64 binMs = 50;
    for (qint64 nice : {50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000}) {
        binMs = nice;
        if (nice * (kBins - 1) > top)
            break;
    }
    // Short labels, so none is cut ("≥11…"): seconds once the bins reach a second.
    const bool seconds = binMs * (kBins - 1) >= 1000;
    auto label = [seconds](qint64 ms) {
        return seconds ? QString::number(double(ms) / 1000.0, 'g', 3) : QString::number(ms);
    };
    QStringList categories;
    for (int i = 0; i < kBins; ++i)
        categories << (i == kBins - 1 ? QStringLiteral("≥") + label(i * binMs) : label(i * binMs));

    auto *series = new QBarSeries;
    int maxCount = 0;
    for (SagaStep s : kAllSteps) {
        const SagaStatistics::StepDurations &d = m_stats.steps[size_t(s)];
        const QString shortName = stepDisplayName(s).section(QLatin1Char(' '), 0, 0);
        auto *set = new QBarSet(tr("%1 %2 / %3 ms").arg(shortName, msText(d.p50), msText(d.p95)));
        set->setColor(kStepColors[int(s)]);
        set->setBorderColor(kStepColors[int(s)]);
        QVector<int> counts(kBins, 0);
        for (qint64 ms : d.samplesMs)
            ++counts[int(std::min<qint64>(kBins - 1, ms / binMs))];
        for (int c : std::as_const(counts)) {
            *set << c;
            maxCount = std::max(maxCount, c);
        }
        series->append(set);
    }
    series->setBarWidth(0.9);
    chart->addSeries(series);
    auto *x = new QBarCategoryAxis;
    x->append(categories);
    // Whole: Qt Charts cut a label that fitted its bin but left less than its
    // padding free either side ("≥5..." in a 1024 px window). (In an 800 px
    // window the last, open bin's label is left out instead: it would reach past
    // the axis. The others stay whole.)
    x->setTruncateLabels(false);
    x->setTitleText(seconds ? tr("duration (s)") : tr("duration (ms)"));
    auto *y = new QValueAxis;
    setCountRange(y, maxCount);
    y->setTitleText(tr("steps"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
}

void ChartsPanel::rebuildOutcomes()
{
    QChart *chart = m_outcomeView->chart();
    clearChart(chart);
    auto *completed = new QBarSet(tr("Completed"));
    auto *rolledBack = new QBarSet(tr("Rolled back"));
    auto *failed = new QBarSet(tr("Failed"));
    completed->setColor(kCompleted);
    rolledBack->setColor(kRolledBack);
    failed->setColor(kFailed);
    // The minutes in the console's time setting, like the tree and the detail panel.
    m_outcomesUtc = !m_model || m_model->displayUtc();
    QStringList categories;
    int maxTotal = 0;
    for (const SagaStatistics::OutcomeBucket &b : std::as_const(m_stats.outcomes)) {
        const QDateTime start = m_outcomesUtc ? b.start.toUTC() : b.start.toLocalTime();
        categories << start.toString(QStringLiteral("HH:mm"));
        *completed << b.completed;
        *rolledBack << b.rolledBack;
        *failed << b.failed;
        maxTotal = std::max(maxTotal, b.completed + b.rolledBack + b.failed);
    }
    auto *series = new QStackedBarSeries;
    series->append(completed);
    series->append(rolledBack);
    series->append(failed);
    series->setBarWidth(0.8);
    chart->addSeries(series);
    auto *x = new QBarCategoryAxis;
    x->append(categories);
    x->setLabelsAngle(-90);
    // Upright, a minute's label is one line wide: it fits its bar's width down to a
    // 320 px chart, where Qt Charts cut it to "10:..." for the padding either side
    // (at a 1024 px window).
    x->setTruncateLabels(false);
    // Which clock, in the chart's title: an axis title would take the height the
    // upright HH:mm labels need, and they were cut to "23…".
    chart->setTitle(m_outcomesUtc ? tr("Outcomes per minute (UTC)") : tr("Outcomes per minute (local time)"));
    auto *y = new QValueAxis;
    setCountRange(y, maxTotal);
    y->setTitleText(tr("sagas"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
}
