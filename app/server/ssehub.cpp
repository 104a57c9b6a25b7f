#include "ssehub.h"

#include "sagalog.h"
#include "sseencoder.h"

#include <QDateTime>
#include <QTcpSocket>

SseHub::SseHub(qint64 maxBacklogBytes, int heartbeatMs, QObject *parent)
    : QObject(parent)
    , m_maxBacklog(maxBacklogBytes)
{
    m_heartbeat.setInterval(heartbeatMs);
    connect(&m_heartbeat, &QTimer::timeout, this, &SseHub::heartbeat);
    m_heartbeat.start();
}

SseHub::~SseHub()
{
    closeAll();
}

void SseHub::setHeartbeatInterval(int ms)
{
    m_heartbeat.setInterval(ms);
}

quint64 SseHub::subscribe(QTcpSocket *socket, const QUuid &orderId, qint64 lastId, bool catchingUp,
                          std::shared_ptr<void> hold)
{
    auto subscriber = std::make_unique<Subscriber>();
    const quint64 key = m_nextKey++;
    subscriber->key = key;
    subscriber->socket = socket;
    subscriber->orderId = orderId;
    subscriber->lastId = lastId;
    subscriber->catchingUp = catchingUp;
    subscriber->hold = std::move(hold);
    // A small kernel send buffer keeps memory per stream bounded and lets a
    // stalled client show up as backlog here.
    socket->setSocketOption(QAbstractSocket::SendBufferSizeSocketOption, 64 * 1024);
    subscriber->disconnectedConnection = connect(socket, &QAbstractSocket::disconnected, this,
                                                 [this, key] { remove(key, false); });
    subscriber->destroyedConnection = connect(socket, &QObject::destroyed, this,
                                              [this, key] { remove(key, false); });
    if (orderId.isNull())
        m_global.insert(key, true);
    else
        m_byOrder.insert(orderId, key);
    m_subscribers.emplace(key, std::move(subscriber));
    return key;
}

bool SseHub::expired(Subscriber &s)
{
    if (s.expiresAtMs == 0 || QDateTime::currentMSecsSinceEpoch() < s.expiresAtMs)
        return false;
    if (QTcpSocket *socket = s.socket.data(); socket && socket->state() == QAbstractSocket::ConnectedState)
        socket->write(SseEncoder::comment("the token expired: connect again with a new one"));
    return true;
}

bool SseHub::write(Subscriber &s, const QByteArray &bytes)
{
    QTcpSocket *socket = s.socket.data();
    if (!socket || socket->state() != QAbstractSocket::ConnectedState || expired(s))
        return false;
    socket->write(bytes);
    // Hand it to the kernel now (one send) instead of one write-notifier turn per
    // subscriber later; what the kernel does not take is the real backlog.
    socket->flush();
    if (socket->bytesToWrite() > m_maxBacklog) {
        ++m_dropped;
        qCInfo(lcServer) << "disconnecting a slow event-stream client:" << socket->bytesToWrite()
                         << "bytes unsent";
        socket->abort();
        return false;
    }
    return true;
}

void SseHub::deliver(Subscriber &s, const Frame &frame)
{
    if (s.replaying || (frame.id != 0 && frame.id <= s.lastId))
        return;
    if (s.catchingUp) {
        s.heldBytes += frame.bytes.size();
        s.held.append(frame);
        if (s.heldBytes > m_maxBacklog) {
            ++m_dropped;
            m_doomed.append(s.key);
        }
        return;
    }
    if (!write(s, frame.bytes)) {
        m_doomed.append(s.key);
        return;
    }
    if (frame.id != 0)
        s.lastId = frame.id;
    if (frame.terminal && !s.orderId.isNull()) {
        if (QTcpSocket *socket = s.socket.data())
            socket->disconnectFromHost(); // flushes what is queued, then closes
        m_doomed.append(s.key);
    }
}

void SseHub::send(quint64 key, const Frame &frame)
{
    const auto it = m_subscribers.find(key);
    if (it == m_subscribers.end())
        return;
    ++m_delivering;
    const bool wasCatchingUp = it->second->catchingUp;
    it->second->catchingUp = false;
    deliver(*it->second, frame);
    it->second->catchingUp = wasCatchingUp;
    --m_delivering;
    flushDoomed();
}

void SseHub::catchUp(quint64 key, const QVector<Frame> &frames)
{
    const auto it = m_subscribers.find(key);
    if (it == m_subscribers.end())
        return;
    ++m_delivering;
    Subscriber &s = *it->second;
    s.catchingUp = false;
    QVector<Frame> held = std::exchange(s.held, {});
    s.heldBytes = 0;
    for (const Frame &frame : frames) {
        deliver(s, frame);
        if (!m_doomed.isEmpty())
            break;
    }
    if (m_doomed.isEmpty()) {
        for (const Frame &frame : std::as_const(held)) {
            deliver(s, frame);
            if (!m_doomed.isEmpty())
                break;
        }
    }
    --m_delivering;
    flushDoomed();
}

void SseHub::publish(const QUuid &orderId, const Frame &orderFrame, const Frame &globalFrame)
{
    ++m_delivering;
    for (auto it = m_byOrder.constFind(orderId); it != m_byOrder.cend() && it.key() == orderId; ++it) {
        const auto sub = m_subscribers.find(it.value());
        if (sub != m_subscribers.end())
            deliver(*sub->second, orderFrame);
    }
    for (auto it = m_global.cbegin(); it != m_global.cend(); ++it) {
        const auto sub = m_subscribers.find(it.key());
        if (sub != m_subscribers.end())
            deliver(*sub->second, globalFrame);
    }
    --m_delivering;
    flushDoomed();
}

void SseHub::publishBatch(const QVector<OrderFrame> &orderFrames, const QVector<Frame> &globalFrames)
{
    ++m_delivering;
    for (const OrderFrame &of : orderFrames) {
        for (auto it = m_byOrder.constFind(of.orderId); it != m_byOrder.cend() && it.key() == of.orderId; ++it) {
            const auto sub = m_subscribers.find(it.value());
            if (sub != m_subscribers.end())
                deliver(*sub->second, of.frame);
        }
    }
    if (!globalFrames.isEmpty() && !m_global.isEmpty()) {
        QByteArray all; // every frame, once: shared by the subscribers that take them all
        qsizetype size = 0;
        for (const Frame &frame : globalFrames)
            size += frame.bytes.size();
        all.reserve(size);
        for (const Frame &frame : globalFrames)
            all.append(frame.bytes);
        const qint64 firstId = globalFrames.front().id;
        qint64 lastId = 0;
        for (const Frame &frame : globalFrames)
            lastId = qMax(lastId, frame.id);
        for (auto it = m_global.cbegin(); it != m_global.cend(); ++it) {
            const auto sub = m_subscribers.find(it.key());
            if (sub == m_subscribers.end())
                continue;
            Subscriber &s = *sub->second;
            if (s.replaying || s.catchingUp) {
                for (const Frame &frame : globalFrames)
                    deliver(s, frame);
                continue;
            }
            bool ok = true;
            if (firstId > s.lastId || firstId == 0) {
                ok = write(s, all);
            } else { // some frames are old for this subscriber: only the later ones
                QByteArray later;
                for (const Frame &frame : globalFrames) {
                    if (frame.id == 0 || frame.id > s.lastId)
                        later.append(frame.bytes);
                }
                ok = later.isEmpty() || write(s, later);
            }
            if (!ok)
                m_doomed.append(s.key);
            else
                s.lastId = qMax(s.lastId, lastId);
        }
    }
    --m_delivering;
    flushDoomed();
}

quint64 SseHub::subscribeReplay(QTcpSocket *socket, qint64 lastId, std::shared_ptr<void> hold)
{
    const quint64 key = subscribe(socket, QUuid(), lastId, false, std::move(hold));
    m_subscribers.at(key)->replaying = true;
    return key;
}

bool SseHub::replayWrite(quint64 key, const QByteArray &bytes, qint64 lastId)
{
    const auto it = m_subscribers.find(key);
    if (it == m_subscribers.end())
        return false;
    Subscriber &s = *it->second;
    QTcpSocket *socket = s.socket.data();
    if (!socket || socket->state() != QAbstractSocket::ConnectedState) {
        remove(key, false);
        return false;
    }
    if (expired(s)) {
        remove(key, true);
        return false;
    }
    if (!bytes.isEmpty())
        socket->write(bytes); // paced by whenDrained(), not bounded by the live backlog
    s.lastId = qMax(s.lastId, lastId);
    return true;
}

void SseHub::whenDrained(quint64 key, std::function<void()> then)
{
    const auto it = m_subscribers.find(key);
    if (it == m_subscribers.end())
        return;
    Subscriber &s = *it->second;
    QTcpSocket *socket = s.socket.data();
    if (!socket)
        return;
    const qint64 threshold = m_maxBacklog / 2;
    if (socket->bytesToWrite() <= threshold) {
        then();
        return;
    }
    disconnect(s.drainConnection);
    s.drainConnection = connect(socket, &QIODevice::bytesWritten, this, [this, key, threshold, then = std::move(then)] {
        const auto found = m_subscribers.find(key);
        if (found == m_subscribers.end())
            return;
        QTcpSocket *sock = found->second->socket.data();
        if (!sock || sock->bytesToWrite() > threshold)
            return;
        const std::function<void()> next = then; // the connection (and this lambda) goes now
        disconnect(found->second->drainConnection);
        next();
    });
}

void SseHub::goLive(quint64 key)
{
    const auto it = m_subscribers.find(key);
    if (it != m_subscribers.end())
        it->second->replaying = false;
}

void SseHub::expireAt(quint64 key, qint64 msSinceEpoch)
{
    const auto it = m_subscribers.find(key);
    if (it != m_subscribers.end())
        it->second->expiresAtMs = msSinceEpoch;
}

void SseHub::close(quint64 key)
{
    remove(key, true);
}

void SseHub::unsubscribe(quint64 key)
{
    remove(key, false);
}

void SseHub::remove(quint64 key, bool closeSocket)
{
    if (m_delivering > 0) {
        m_doomed.append(key);
        return;
    }
    const auto it = m_subscribers.find(key);
    if (it == m_subscribers.end())
        return;
    std::unique_ptr<Subscriber> s = std::move(it->second);
    m_subscribers.erase(it);
    disconnect(s->disconnectedConnection);
    disconnect(s->destroyedConnection);
    disconnect(s->drainConnection);
    if (s->orderId.isNull())
        m_global.remove(key);
    else
        m_byOrder.remove(s->orderId, key);
    if (closeSocket) {
        if (QTcpSocket *socket = s->socket.data()) {
            if (socket->state() == QAbstractSocket::ConnectedState)
                socket->disconnectFromHost();
        }
    }
    Q_EMIT subscriberGone(s->orderId);
}

void SseHub::heartbeat()
{
    const QByteArray beat = SseEncoder::heartbeat();
    ++m_delivering;
    for (auto &entry : m_subscribers) {
        Subscriber &s = *entry.second;
        if (!s.catchingUp && !s.replaying && !write(s, beat))
            m_doomed.append(s.key);
    }
    --m_delivering;
    flushDoomed();
}

void SseHub::flushDoomed()
{
    if (m_delivering > 0)
        return;
    while (!m_doomed.isEmpty()) {
        for (const quint64 doomed : std::exchange(m_doomed, {}))
            remove(doomed, true);
    }
}

void SseHub::closeAll()
{
    std::vector<quint64> keys;
    keys.reserve(m_subscribers.size());
    for (const auto &entry : m_subscribers)
        keys.push_back(entry.first);
    for (const quint64 key : keys)
        remove(key, true);
}
