#pragma once

// Test helpers: HTTP/1.1 over a raw QTcpSocket driven by the event loop (the
// in-process server runs in the same thread, so nothing here blocks), and an
// incremental Server-Sent Events reader. Header-only, no Q_OBJECT.

#include <QByteArray>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QTcpSocket>
#include <QTimer>
#include <QCoreApplication>
#include <functional>
#include <memory>
#include <vector>

struct HttpResult {
    int status = 0; // 0: no answer (connection failed or timed out)
    QHash<QByteArray, QByteArray> headers; // lower-case names
    QByteArray body;
    QByteArray raw;
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
    QJsonArray jsonArray() const { return QJsonDocument::fromJson(body).array(); }
    QByteArray header(const QByteArray &name) const { return headers.value(name.toLower()); }
    QString error() const { return json().value(QLatin1String("error")).toString(); }
};

using HeaderList = QList<QPair<QByteArray, QByteArray>>;

// One request on its own connection ("Connection: close"); the answer is
// parsed once the server closes or Content-Length bytes arrived.
class HttpCall
{
public:
    HttpCall(quint16 port, QByteArray raw)
        : m_raw(std::move(raw))
    {
        QObject::connect(&m_socket, &QTcpSocket::connected, [this] { m_socket.write(m_raw); });
        QObject::connect(&m_socket, &QTcpSocket::readyRead, [this] {
            m_buffer += m_socket.readAll();
            tryParse();
        });
        QObject::connect(&m_socket, &QTcpSocket::disconnected, [this] { finish(); });
        QObject::connect(&m_socket, &QTcpSocket::errorOccurred, [this](QAbstractSocket::SocketError) {
            m_buffer += m_socket.readAll();
            finish();
        });
        m_socket.connectToHost(QStringLiteral("127.0.0.1"), port);
    }

    static QByteArray build(const QByteArray &method, const QByteArray &target, const QByteArray &token,
                            const QByteArray &body, const HeaderList &headers, bool jsonBody = true)
    {
        QByteArray raw = method + ' ' + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
        if (!token.isEmpty())
            raw += "Authorization: Bearer " + token + "\r\n";
        bool hasType = false;
        bool hasLength = false;
        for (const auto &h : headers) {
            raw += h.first + ": " + h.second + "\r\n";
            hasType = hasType || h.first.toLower() == "content-type";
            hasLength = hasLength || h.first.toLower() == "content-length" || h.first.toLower() == "transfer-encoding";
        }
        if (!body.isEmpty() && jsonBody && !hasType)
            raw += "Content-Type: application/json\r\n";
        if (!hasLength && (!body.isEmpty() || method == "POST" || method == "PUT"))
            raw += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
        raw += "\r\n" + body;
        return raw;
    }

    bool done() const { return m_done; }
    const HttpResult &result() const { return m_result; }

private:
    void tryParse()
    {
        const qsizetype end = m_buffer.indexOf("\r\n\r\n");
        if (end < 0)
            return;
        HttpResult r;
        const QList<QByteArray> lines = m_buffer.left(end).split('\n');
        const QList<QByteArray> statusLine = lines.value(0).trimmed().split(' ');
        r.status = statusLine.value(1).toInt();
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const qsizetype colon = lines[i].indexOf(':');
            if (colon > 0)
                r.headers.insert(lines[i].left(colon).trimmed().toLower(), lines[i].mid(colon + 1).trimmed());
        }
        const QByteArray lengthText = r.headers.value("content-length");
        if (lengthText.isEmpty())
            return; // body until close
        const qsizetype length = lengthText.toLongLong();
        if (m_buffer.size() - end - 4 < length)
            return;
        r.body = m_buffer.mid(end + 4, length);
        r.raw = m_buffer;
        m_result = r;
        m_done = true;
        m_socket.abort();
    }
    void finish()
    {
        if (m_done)
            return;
        const qsizetype end = m_buffer.indexOf("\r\n\r\n");
        HttpResult r;
        if (end >= 0) {
            const QList<QByteArray> lines = m_buffer.left(end).split('\n');
            r.status = lines.value(0).trimmed().split(' ').value(1).toInt();
            for (qsizetype i = 1; i < lines.size(); ++i) {
                const qsizetype colon = lines[i].indexOf(':');
                if (colon > 0)
                    r.headers.insert(lines[i].left(colon).trimmed().toLower(), lines[i].mid(colon + 1).trimmed());
            }
            r.body = m_buffer.mid(end + 4);
        }
        r.raw = m_buffer;
        m_result = r;
        m_done = true;
    }

    QTcpSocket m_socket;
    QByteArray m_raw;
    QByteArray m_buffer;
    HttpResult m_result;
    bool m_done = false;
};

// Runs the event loop until every call is done (or the safety timeout passes).
inline void waitAll(const std::vector<std::unique_ptr<HttpCall>> &calls, int timeoutMs = 60000)
{
    QElapsedTimer timer;
    timer.start();
    for (;;) {
        bool all = true;
        for (const auto &c : calls)
            all = all && c->done();
        if (all || timer.elapsed() > timeoutMs)
            return;
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    }
}

inline HttpResult httpRaw(quint16 port, const QByteArray &raw, int timeoutMs = 60000)
{
    std::vector<std::unique_ptr<HttpCall>> calls;
    calls.push_back(std::make_unique<HttpCall>(port, raw));
    waitAll(calls, timeoutMs);
    return calls.front()->result();
}

// Writes `raw` (e.g. several pipelined requests) on one connection and collects
// every byte the server sends until it closes the connection (or the timeout
// passes: `closed` stays false).
struct RawExchange {
    QByteArray received;
    bool closed = false;
};
// Writes `raw` once connected (and `later`, if any, laterMs after that), and
// collects what arrives until the server closes or timeoutMs pass.
inline RawExchange exchangeUntilClosed(quint16 port, const QByteArray &raw, int timeoutMs = 60000,
                                       const QByteArray &later = {}, int laterMs = 0)
{
    RawExchange out;
    QTcpSocket socket;
    QObject::connect(&socket, &QTcpSocket::connected, [&] {
        socket.write(raw);
        if (!later.isEmpty())
            QTimer::singleShot(laterMs, &socket, [&] { socket.write(later); });
    });
    QObject::connect(&socket, &QTcpSocket::readyRead, [&] { out.received += socket.readAll(); });
    QObject::connect(&socket, &QTcpSocket::disconnected, [&] { out.closed = true; });
    socket.connectToHost(QStringLiteral("127.0.0.1"), port);
    QElapsedTimer timer;
    timer.start();
    while (!out.closed && timer.elapsed() < timeoutMs)
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    out.received += socket.readAll();
    QObject::disconnect(&socket, nullptr, nullptr, nullptr);
    return out;
}

inline HttpResult http(quint16 port, const QByteArray &method, const QString &path, const QByteArray &token = {},
                       const QByteArray &body = {}, const HeaderList &headers = {}, int timeoutMs = 60000)
{
    return httpRaw(port, HttpCall::build(method, path.toUtf8(), token, body, headers), timeoutMs);
}

struct SseEvent {
    QByteArray id;
    QByteArray event;
    QByteArray data;
    QJsonObject json() const { return QJsonDocument::fromJson(data).object(); }
};

// Reads an event stream incrementally; records events, comments and `retry:`.
class SseReader
{
public:
    SseReader(quint16 port, const QString &target, const QByteArray &token, const HeaderList &headers = {})
    {
        QByteArray raw = "GET " + target.toUtf8() + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
        if (!token.isEmpty())
            raw += "Authorization: Bearer " + token + "\r\n";
        for (const auto &h : headers)
            raw += h.first + ": " + h.second + "\r\n";
        raw += "\r\n";
        QObject::connect(&m_socket, &QTcpSocket::connected, [this, raw] { m_socket.write(raw); });
        QObject::connect(&m_socket, &QTcpSocket::readyRead, [this] { onData(m_socket.readAll()); });
        QObject::connect(&m_socket, &QTcpSocket::disconnected, [this] { m_closed = true; });
        QObject::connect(&m_socket, &QTcpSocket::errorOccurred, [this](QAbstractSocket::SocketError) {
            if (m_socket.state() != QAbstractSocket::ConnectedState)
                m_closed = true;
        });
        m_socket.connectToHost(QStringLiteral("127.0.0.1"), port);
    }

    int status() const { return m_status; }
    QByteArray header(const QByteArray &name) const { return m_headers.value(name.toLower()); }
    bool closed() const { return m_closed; }
    const QList<SseEvent> &events() const { return m_events; }
    int comments() const { return m_comments; }
    int retryMs() const { return m_retry; }
    QByteArray body() const { return m_body; }
    void stopReading() { m_socket.setReadBufferSize(1); m_paused = true; }
    void close() { m_socket.abort(); m_closed = true; }

private:
    void onData(const QByteArray &data)
    {
        if (m_status == 0) {
            m_head += data;
            const qsizetype end = m_head.indexOf("\r\n\r\n");
            if (end < 0)
                return;
            const QList<QByteArray> lines = m_head.left(end).split('\n');
            m_status = lines.value(0).trimmed().split(' ').value(1).toInt();
            for (qsizetype i = 1; i < lines.size(); ++i) {
                const qsizetype colon = lines[i].indexOf(':');
                if (colon > 0)
                    m_headers.insert(lines[i].left(colon).trimmed().toLower(), lines[i].mid(colon + 1).trimmed());
            }
            m_pending = m_head.mid(end + 4);
            m_head.clear();
        } else {
            m_pending += data;
        }
        m_body += m_pending;
        for (;;) {
            const qsizetype end = m_pending.indexOf("\n\n");
            if (end < 0)
                break;
            const QByteArray block = m_pending.left(end);
            m_pending.remove(0, end + 2);
            SseEvent ev;
            bool any = false;
            const QList<QByteArray> lines = block.split('\n');
            for (const QByteArray &line : lines) {
                if (line.startsWith(':')) {
                    ++m_comments;
                    continue;
                }
                const qsizetype colon = line.indexOf(':');
                const QByteArray field = colon < 0 ? line : line.left(colon);
                QByteArray value = colon < 0 ? QByteArray() : line.mid(colon + 1);
                if (value.startsWith(' '))
                    value.remove(0, 1);
                if (field == "id") { ev.id = value; any = true; }
                else if (field == "event") { ev.event = value; any = true; }
                else if (field == "data") { ev.data += (ev.data.isEmpty() ? QByteArray() : QByteArray("\n")) + value; any = true; }
                else if (field == "retry") m_retry = value.toInt();
            }
            if (any)
                m_events.append(ev);
        }
    }

    QTcpSocket m_socket;
    QByteArray m_head;
    QByteArray m_pending;
    QByteArray m_body;
    QHash<QByteArray, QByteArray> m_headers;
    QList<SseEvent> m_events;
    int m_status = 0;
    int m_comments = 0;
    int m_retry = 0;
    bool m_closed = false;
    bool m_paused = false;
};
