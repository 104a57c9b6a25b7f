#pragma once

#include "sagastatistics.h"

#include <QPointer>
#include <QTimer>
#include <QWidget>

class OrderTreeModel;
class QChart;
class QChartView;

// Two QtCharts: the step duration distribution (a histogram per step, p50/p95
// in the legend) and saga outcomes per minute (completed / rolled back /
// failed). Recomputed every few seconds while visible.
class ChartsPanel : public QWidget
{
    Q_OBJECT
public:
    explicit ChartsPanel(OrderTreeModel *model, QWidget *parent = nullptr);

    void refresh();
    const SagaStatistics &statistics() const { return m_stats; }
    QChart *durationChart() const;
    QChart *outcomeChart() const;

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void rebuildDurations();
    void rebuildOutcomes();

    QPointer<OrderTreeModel> m_model;
    SagaStatistics m_stats;
    QChartView *m_durationView = nullptr;
    QChartView *m_outcomeView = nullptr;
    QTimer m_timer;
};
