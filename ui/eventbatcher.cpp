#include "eventbatcher.h"

#include "ordertreemodel.h"

EventBatcher::EventBatcher(OrderTreeModel *model, QObject *parent)
    : QObject(parent)
    , m_model(model)
{
    m_flushTimer.setSingleShot(true);
    // 10 updates/s: at 5,000 events/s with 100,000 orders, shorter intervals make
    // the view relayout more often than the eye can follow (BENCHMARKS.md).
    m_flushTimer.setInterval(100);
    connect(&m_flushTimer, &QTimer::timeout, this, &EventBatcher::flush);
    m_rateTimer.setInterval(1000);
    connect(&m_rateTimer, &QTimer::timeout, this, &EventBatcher::updateRate);
    m_rateTimer.start();
    m_rateClock.start();
}

void EventBatcher::setInterval(int ms)
{
    m_flushTimer.setInterval(qMax(0, ms));
}

void EventBatcher::addEvents(const QVector<OrderEvent> &events)
{
    if (events.isEmpty())
        return;
    m_pending += events;
    m_total += events.size();
    if (!m_flushTimer.isActive())
        m_flushTimer.start();
}

void EventBatcher::addSnapshots(const QVector<OrderProgress> &snapshots)
{
    flush();
    if (m_model)
        m_model->loadSnapshots(snapshots);
}

void EventBatcher::flush()
{
    m_flushTimer.stop();
    if (m_pending.isEmpty() || !m_model)
        return;
    const QVector<OrderEvent> batch = std::exchange(m_pending, {});
    m_model->applyEvents(batch);
    Q_EMIT applied(int(batch.size()));
}

void EventBatcher::clear()
{
    m_flushTimer.stop();
    m_pending.clear();
}

void EventBatcher::updateRate()
{
    const qint64 elapsed = qMax<qint64>(1, m_rateClock.restart());
    const double rate = double(m_total - m_countedAtLastRate) * 1000.0 / double(elapsed);
    m_countedAtLastRate = m_total;
    if (qFuzzyCompare(rate + 1, m_rate + 1))
        return;
    m_rate = rate;
    Q_EMIT rateChanged(rate);
}
