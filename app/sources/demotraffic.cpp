#include "demotraffic.h"

#include "progresssource.h"
#include "sagalog.h"

DemoTraffic::DemoTraffic(QObject *parent)
    : QObject(parent)
    , m_random(QRandomGenerator::securelySeeded())
{
    connect(&m_timer, &QTimer::timeout, this, &DemoTraffic::placeOne);
    m_timer.setInterval(60000 / m_perMinute);
    m_resumeTimer.setSingleShot(true);
    connect(&m_resumeTimer, &QTimer::timeout, this, [this] {
        if (!m_running)
            return;
        qCInfo(lcSources) << "demo traffic goes on";
        m_timer.start();
        placeOne();
    });
}

void DemoTraffic::setSource(ProgressSource *source)
{
    disconnect(m_sourceState);
    m_source = source;
    if (source)
        m_sourceState = connect(source, &ProgressSource::connectionStateChanged, this,
                                [this](ProgressSource::State state) {
                                    if (state == ProgressSource::State::Failed)
                                        stopForFailedSource();
                                });
}

void DemoTraffic::stopForFailedSource()
{
    if (!m_running)
        return;
    qCInfo(lcSources) << "demo traffic stops: the source gave up";
    setRunning(false);
}

void DemoTraffic::setOrdersPerMinute(int perMinute)
{
    m_perMinute = qBound(1, perMinute, 6000);
    m_timer.setInterval(qMax(10, 60000 / m_perMinute));
}

void DemoTraffic::setFailurePercent(int percent)
{
    m_failurePercent = qBound(0, percent, 100);
}

void DemoTraffic::setRunning(bool running)
{
    if (running && !m_running && m_source && m_source->state() == ProgressSource::State::Failed) {
        // Its orders would all be refused; the buttons that asked for it go off again.
        qCInfo(lcSources) << "demo traffic not started: the source gave up";
        Q_EMIT runningChanged(false);
        return;
    }
    if (running == isRunning())
        return;
    m_running = running;
    m_resumeTimer.stop();
    if (running) {
        m_timer.start();
        placeOne(); // something to watch at once
    } else {
        m_timer.stop();
    }
    qCInfo(lcSources) << "demo traffic" << (running ? "started" : "stopped") << m_perMinute
                 << "orders/min," << m_failurePercent << "% failures";
    Q_EMIT runningChanged(running);
}

OrderPreset DemoTraffic::presetFor(double roll, int failureIndex) const
{
    if (roll >= m_failurePercent)
        return OrderPreset::HappyPath;
    return OrderPreset(1 + (failureIndex % (kOrderPresetCount - 1)));
}

void DemoTraffic::placeOne()
{
    if (!m_running || isPaused() || !m_source || !m_source->canPlaceOrders() || !m_source->isInitialLoadDone())
        return;
    const OrderPreset preset = presetFor(m_random.bounded(100.0), int(m_random.bounded(kOrderPresetCount - 1)));
    place(OrderPresets::make(preset, &m_random), true);
}

void DemoTraffic::place(const OrderRequest &request, bool mayResend)
{
    m_source->placeOrder(request, this, [this, request, mayResend](PlaceOrderResult r) {
        if (r.ok) {
            ++m_placed;
            Q_EMIT orderPlaced(r.orderId);
        } else if (mayResend && r.outcomeUnknown && !r.idempotencyKey.isEmpty() && m_source
                   && m_source->canPlaceOrders()) {
            // No answer: sent once more with the same Idempotency-Key, so the order
            // is placed once at most (remote mode).
            OrderRequest again = request;
            again.idempotencyKey = r.idempotencyKey;
            place(again, false);
        } else {
            ++m_rejected;
            Q_EMIT placeFailed(r.error);
            if (r.retryAfterSeconds > 0)
                pauseFor(r.retryAfterSeconds);
        }
    });
}

void DemoTraffic::pauseFor(int seconds)
{
    // Orders sent before the pause may be refused too: the longest wait wins.
    if (!m_running || (m_resumeTimer.isActive() && m_resumeTimer.remainingTime() >= seconds * 1000))
        return;
    m_timer.stop();
    m_resumeTimer.start(seconds * 1000);
    qCInfo(lcSources) << "demo traffic paused for" << seconds << "s: the source limits new orders";
    Q_EMIT paused(seconds);
}
