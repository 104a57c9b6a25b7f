#pragma once

#include "orderevent.h"
#include "orderprogress.h"

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>

class OrderTreeModel;

// Between a source and the OrderTreeModel: collects events and applies them in
// batches at most every `intervalMs` (100 ms by default) (one insert block and one dataChanged per
// changed row per batch, instead of one per event), and measures events/s.
// Snapshots are applied at once, after any events collected before them.
class EventBatcher : public QObject
{
    Q_OBJECT
public:
    explicit EventBatcher(OrderTreeModel *model, QObject *parent = nullptr);

    void setInterval(int ms);
    void addEvents(const QVector<OrderEvent> &events);
    void addSnapshots(const QVector<OrderProgress> &snapshots);
    void flush();
    void clear(); // drops what is pending (source switch)

    qint64 totalEvents() const { return m_total; }
    double eventsPerSecond() const { return m_rate; }
    int pending() const { return int(m_pending.size()); }

Q_SIGNALS:
    void rateChanged(double eventsPerSecond);
    void applied(int events);

private:
    void updateRate();

    QPointer<OrderTreeModel> m_model;
    QVector<OrderEvent> m_pending;
    QTimer m_flushTimer;
    QTimer m_rateTimer;
    QElapsedTimer m_rateClock;
    qint64 m_total = 0;
    qint64 m_countedAtLastRate = 0;
    double m_rate = 0;
};
