#pragma once

#include <QByteArray>
#include <QObject>
#include <QTimer>
#include <map>

class ApiError;
class QTcpSocket;

// Watches one connection's incoming bytes before QHttpServer parses them
// (Qt 6.4 buffers a whole request body, and reserves Content-Length bytes up
// front, before a handler can refuse it). Refused, each with its answer and the
// connection closed after a short drain so the client can read it:
// - a body announced over the limit, or sent past it (chunked): 413; a request
//   head over 64 KiB: 431;
// - framing that two parsers could read differently (request smuggling):
//   Content-Length together with Transfer-Encoding, Content-Lengths that
//   disagree, or one that is not a number of bytes: 400 (RFC 9112 6.1, 6.3);
// - a transfer coding other than chunked: 501;
// - a request line that is not METHOD TARGET HTTP/1.x: 400, or 505 for another version;
// - a request head not complete within `headTimeoutMs` of its first byte (or of
//   the connection, for the first request): 408, so a client that sends half a
//   head, or nothing, does not hold a connection for ever.
//
// Where a request begins: QHttpServer 6.4 takes from the socket only the bytes
// of the request it completes; a later (pipelined) request's bytes stay in the
// socket and are read again, so each head is seen from its first byte here
// (requestDispatched() starts the next one).
//
// Child of its socket; its readyRead slot is connected before QHttpServer's.
class ConnectionGuard : public QObject
{
    Q_OBJECT
public:
    ConnectionGuard(QTcpSocket *socket, qint64 maxBodyBytes, int headTimeoutMs);

    // The server dispatched a complete request: the next bytes start a new one.
    // Returns the request's response number on this connection (1, 2, ...).
    quint64 requestDispatched();
    // Writes the response of request `number` once every earlier one on this
    // connection is written (HTTP/1.1 pipelining: answers go out in request
    // order even when a later request is answered first, e.g. from the cache
    // while an earlier one waits for the StorePool). `close`: close after it.
    void respond(quint64 number, const QByteArray &bytes, bool close);
    // Whether the client asked for the connection to end after request `number`'s
    // answer in a way the server does not see: an HTTP/1.0 request without
    // "Connection: keep-alive" (QHttpServerRequest 6.4 does not tell the version).
    bool closesAfter(quint64 number) const { return number == m_http10Request; }
    // Whether a request before `number` is still unanswered.
    bool hasEarlierPending(quint64 number) const { return number > m_nextToWrite; }
    static ConnectionGuard *of(QTcpSocket *socket);

private:
    void onReadyRead();
    // Checks the framing of a complete request head; false after refusing it.
    bool acceptHead(const QByteArray &head);
    void reject(const ApiError &error, const QByteArray &traceparent);
    void drain();
    void finishWriting(); // half-close: a FIN after the answer, reading goes on

    QTcpSocket *m_socket;
    qint64 m_maxBody;
    QByteArray m_head;     // bytes of the current request until its header end is seen
    bool m_headComplete = false;
    qint64 m_bodyBudget = 0; // bytes allowed after the header
    qint64 m_seen = 0;       // bytes seen since the request began
    bool m_rejected = false;
    QTimer m_lingerTimer;
    QTimer m_headTimer; // runs while a request head is incomplete
    quint64 m_nextNumber = 1;  // number of the next request dispatched
    quint64 m_http10Request = 0; // number of the last HTTP/1.0 request seen without keep-alive
    quint64 m_nextToWrite = 1; // number of the next response to write
    struct Ready {
        QByteArray bytes;
        bool close = false;
    };
    std::map<quint64, Ready> m_ready; // answered out of order, waiting for earlier ones
};
