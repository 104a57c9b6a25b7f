#pragma once

#include "orderpresets.h"

#include <QObject>
#include <QPointer>
#include <QRandomGenerator>
#include <QTimer>

class ProgressSource;

// A steady stream of orders for demos: `ordersPerMinute`, of which
// `failurePercent` use one of the failure presets (evenly mixed). Places them
// through whatever source is current (when it can place orders). A source that
// refuses an order for its rate limit (a saga-server's 429) pauses the traffic
// for as long as it asks (Retry-After); it goes on by itself after that. A
// source that gave up (Failed: a token the server rejects) stops the traffic:
// its orders would all be refused.
class DemoTraffic : public QObject
{
    Q_OBJECT
public:
    explicit DemoTraffic(QObject *parent = nullptr);

    void setSource(ProgressSource *source);
    void setOrdersPerMinute(int perMinute); // 1..6000
    int ordersPerMinute() const { return m_perMinute; }
    void setFailurePercent(int percent);    // 0..100
    int failurePercent() const { return m_failurePercent; }
    void setSeed(quint32 seed) { m_random.seed(seed); }

    void setRunning(bool running);
    bool isRunning() const { return m_running; }
    // Running, but waiting for the source's rate limit (see paused()).
    bool isPaused() const { return m_running && m_resumeTimer.isActive(); }
    int placed() const { return m_placed; }
    int rejected() const { return m_rejected; }

    // The preset the next order would use for a draw of `roll` in [0, 100).
    OrderPreset presetFor(double roll, int failureIndex) const;

Q_SIGNALS:
    void runningChanged(bool running);
    void orderPlaced(const QUuid &orderId);
    void placeFailed(const QString &error);
    // The source limits new orders: no order is placed for `seconds`.
    void paused(int seconds);

private:
    void placeOne();
    void pauseFor(int seconds);
    // Places `request`; one that got no answer is sent once more with the same
    // Idempotency-Key when `mayResend`.
    void place(const OrderRequest &request, bool mayResend);

    // The source gave up (ProgressSource::State::Failed): the traffic stops.
    void stopForFailedSource();

    QPointer<ProgressSource> m_source;
    QMetaObject::Connection m_sourceState;
    QTimer m_timer;
    QTimer m_resumeTimer; // runs while paused for a rate limit
    bool m_running = false;
    QRandomGenerator m_random;
    int m_perMinute = 30;
    int m_failurePercent = 30;
    int m_placed = 0;
    int m_rejected = 0;
};
