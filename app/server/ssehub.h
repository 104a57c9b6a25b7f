#pragma once

#include <QByteArray>
#include <QHash>
#include <QMultiHash>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QUuid>
#include <QVector>
#include <functional>
#include <memory>
#include <unordered_map>

class QTcpSocket;

// Fans committed events out to Server-Sent-Events subscribers: one order's
// stream (ids = per-order seq, ends after the terminal event) or the
// all-orders stream (ids = global commit position). The stream head is written
// by the caller; the hub writes frames, a `:` heartbeat every interval, and
// closes streams.
//
// Each subscriber's backlog is the socket's unsent bytes; a subscriber whose
// backlog passes the bound is disconnected (it resumes with Last-Event-ID), so a
// slow client never holds memory or slows anyone else. A subscriber that is
// catching up from the store holds live frames (bounded too) until the store
// answer arrives; frames are sent once each, in id order, by id.
class SseHub : public QObject
{
    Q_OBJECT
public:
    struct Frame {
        qint64 id = 0;   // seq (order stream) or position (all-orders stream)
        QByteArray bytes;
        bool terminal = false; // the order's saga ended with this event
    };

    SseHub(qint64 maxBacklogBytes, int heartbeatMs, QObject *parent = nullptr);
    ~SseHub() override;

    // Registers a stream on `socket` (head already written). `lastId` frames at
    // or below it are never sent. With `catchingUp`, live frames are held until
    // catchUp() is called for it. `hold` is kept while the stream lasts (e.g. the
    // client's stream slot of the server's rate limiter).
    quint64 subscribe(QTcpSocket *socket, const QUuid &orderId, qint64 lastId, bool catchingUp,
                      std::shared_ptr<void> hold = {});
    // Sends the frames read from the store, then the held live ones (both
    // filtered by id), and goes live. Closes the stream after a terminal frame.
    void catchUp(quint64 subscriber, const QVector<Frame> &frames);
    // Writes to one subscriber (e.g. the snapshot) and closes after it when `frame.terminal`.
    void send(quint64 subscriber, const Frame &frame);
    void close(quint64 subscriber);
    // Forgets a stream whose head was not written yet (the connection stays open
    // for the error answer that takes its place).
    void unsubscribe(quint64 subscriber);

    // One committed event: `orderFrame` to the order's subscribers, `globalFrame`
    // to the all-orders subscribers.
    void publish(const QUuid &orderId, const Frame &orderFrame, const Frame &globalFrame);
    // A batch of committed events: each order frame to its order's subscribers,
    // the global frames (in position order) to every all-orders subscriber as ONE
    // write of one shared buffer (serialized once, whatever the subscriber count).
    struct OrderFrame {
        QUuid orderId;
        Frame frame;
    };
    void publishBatch(const QVector<OrderFrame> &orderFrames, const QVector<Frame> &globalFrames);

    // All-orders resume from the store (paged): the subscriber takes no live
    // frames (the store has them) until goLive(). replayWrite() writes a page
    // (pacing is the caller's: whenDrained()), lastId becomes `lastId`.
    quint64 subscribeReplay(QTcpSocket *socket, qint64 lastId, std::shared_ptr<void> hold = {});
    bool replayWrite(quint64 subscriber, const QByteArray &bytes, qint64 lastId);
    // Calls `then` once the subscriber's unsent bytes fell to half the bound
    // (at once when they are); never when it is gone.
    void whenDrained(quint64 subscriber, std::function<void()> then);
    void goLive(quint64 subscriber);
    // The stream ends at `msSinceEpoch` (its token's expiry): nothing is written to
    // it from then on but a last comment saying so; it closes with its next write
    // (a frame, at the latest the heartbeat).
    void expireAt(quint64 subscriber, qint64 msSinceEpoch);
    bool isSubscribed(quint64 subscriber) const { return m_subscribers.count(subscriber) != 0; }

    void closeAll();
    int subscriberCount() const { return int(m_subscribers.size()); }
    quint64 droppedSlowClients() const { return m_dropped; }
    void setHeartbeatInterval(int ms);

Q_SIGNALS:
    // The stream ended (client left, overflow, terminal event, shutdown).
    void subscriberGone(const QUuid &orderId);

private:
    struct Subscriber {
        quint64 key = 0;
        QPointer<QTcpSocket> socket;
        QUuid orderId; // null: all orders
        qint64 lastId = 0;
        bool catchingUp = false;
        bool replaying = false;
        qint64 expiresAtMs = 0; // 0: never
        qint64 heldBytes = 0;
        QVector<Frame> held;
        QMetaObject::Connection disconnectedConnection;
        QMetaObject::Connection destroyedConnection;
        QMetaObject::Connection drainConnection;
        std::shared_ptr<void> hold;
    };
    void deliver(Subscriber &s, const Frame &frame);
    bool write(Subscriber &s, const QByteArray &bytes);
    bool expired(Subscriber &s); // says so on the stream when it is
    void remove(quint64 key, bool closeSocket);
    void heartbeat();
    void flushDoomed();

    qint64 m_maxBacklog;
    QTimer m_heartbeat;
    quint64 m_nextKey = 1;
    quint64 m_dropped = 0;
    std::unordered_map<quint64, std::unique_ptr<Subscriber>> m_subscribers;
    QMultiHash<QUuid, quint64> m_byOrder;
    QHash<quint64, bool> m_global;
    QVector<quint64> m_doomed; // removed after the current delivery loop
    int m_delivering = 0;      // > 0 while iterating subscribers: removals are deferred
};
