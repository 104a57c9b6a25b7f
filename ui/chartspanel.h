#pragma once

#include "sagastatistics.h"

#include <QPointer>
#include <QTimer>
#include <QWidget>

#include <optional>

class OrderTreeModel;
class QChart;
class QChartView;

// Two QtCharts: the step duration distribution (a histogram per step, p50/p95
// in the legend) and saga outcomes per minute (completed / rolled back /
// failed). Recomputed every few seconds while visible, a slice of the model's
// rows per event-loop turn (the model only appends rows, so a row stays the
// same order across turns): at 100,000 orders one pass over them took 15-25 ms
// of the GUI thread, and landed on top of a tree relayout every three seconds.
class ChartsPanel : public QWidget
{
    Q_OBJECT
public:
    explicit ChartsPanel(OrderTreeModel *model, QWidget *parent = nullptr);

    // Starts a recomputation (one already under way carries on); the charts and
    // statistics() change when it ends, a few event-loop turns later.
    void refresh();
    const SagaStatistics &statistics() const { return m_stats; }
    static constexpr int kRowsPerSlice = 5000;
    QChart *durationChart() const;
    QChart *outcomeChart() const;

Q_SIGNALS:
    void refreshed(); // statistics() and the charts show a finished computation

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void computeSlice();
    void dropPending(); // a computation under way is abandoned
    void rebuildDurations();
    void rebuildOutcomes();

    QPointer<OrderTreeModel> m_model;
    SagaStatistics m_stats;
    QChartView *m_durationView = nullptr;
    QChartView *m_outcomeView = nullptr;
    QTimer m_timer;
    std::optional<SagaStatistics::Accumulator> m_pending; // a computation under way
    int m_nextRow = 0;
    QTimer m_sliceTimer; // the next slice, on the next event-loop turn
    bool m_outcomesUtc = true; // the outcome chart's minutes are in UTC (else local time)
};
