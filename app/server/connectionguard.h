#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>
#include <map>
#include <memory>

class ApiError;
class ChunkedFraming;
class QTcpSocket;

// Watches one connection's incoming bytes before QHttpServer parses them
// (Qt 6.4 buffers a whole request body, and reserves Content-Length bytes up
// front, before a handler can refuse it). Refused, each with its answer and the
// connection closed after a short drain so the client can read it:
// - a body announced over the limit, or sent past it (chunked): 413; a request
//   head over 64 KiB: 431;
// - framing that two parsers could read differently (request smuggling):
//   Content-Length together with Transfer-Encoding, Content-Lengths that
//   disagree, or one that is not a number of bytes; a header line that is not
//   NAME: VALUE with the name a token right before the colon, or a value with a
//   control character; a chunked body whose framing is not exact
//   (ChunkedFraming): 400 (RFC 9112 5, 6.1, 6.3, 7.1);
// - an HTTP/1.1 request without exactly one Host, or any with two: 400 (RFC 9112 3.2);
// - a WebSocket upgrade (this server has none; Qt 6.4 would answer it twice): 400;
// - a transfer coding other than chunked: 501;
// - a request line that is not METHOD TARGET HTTP/1.x: 400, or 505 for another version;
// - a request head not complete within `headTimeoutMs` of its first byte (or of
//   the connection, for the first request), or a body that stops arriving for
//   `bodyTimeoutMs`: 408, so a client that sends half a request, or nothing,
//   does not hold a connection for ever.
// A kept-alive connection with every request answered and nothing more sent for
// `idleTimeoutMs` is closed without an answer. A request waiting for its answer
// (Prefer: wait=N) and an event stream are never cut by these timers.
//
// Where a request begins: QHttpServer 6.4 takes from the socket only the bytes
// of the request it completes; a later (pipelined) request's bytes stay in the
// socket and are read again, so each head is seen from its first byte here
// (requestDispatched() starts the next one).
//
// Child of its socket; its readyRead slot is connected before QHttpServer's.
// The timers are checked by its GuardedTcpServer's sweep (checkTimers()), so a
// request costs no timer of its own.
class ConnectionGuard : public QObject
{
    Q_OBJECT
public:
    struct Limits {
        qint64 maxBodyBytes = 1024 * 1024;
        int headTimeoutMs = 30000;
        int bodyTimeoutMs = 30000;
        int idleTimeoutMs = 75000;
    };

    ConnectionGuard(QTcpSocket *socket, const Limits &limits);
    ~ConnectionGuard() override;

    // The server dispatched a complete request: the next bytes start a new one.
    // Returns the request's response number on this connection (1, 2, ...).
    quint64 requestDispatched();
    // Writes the response of request `number` once every earlier one on this
    // connection is written (HTTP/1.1 pipelining: answers go out in request
    // order even when a later request is answered first, e.g. from the cache
    // while an earlier one waits for the StorePool). `close`: close after it.
    // `stream`: the head of an event stream, which has the connection from now on.
    void respond(quint64 number, const QByteArray &bytes, bool close, bool stream = false);
    // Whether the client asked for the connection to end after request `number`'s
    // answer in a way the server does not see: an HTTP/1.0 request without
    // "Connection: keep-alive" (QHttpServerRequest 6.4 does not tell the version).
    bool closesAfter(quint64 number) const { return number == m_http10Request; }
    // Whether a request before `number` is still unanswered.
    bool hasEarlierPending(quint64 number) const { return number > m_nextToWrite; }
    // Answers 408 or closes the connection when its phase's time is up.
    void checkTimers();
    static ConnectionGuard *of(QTcpSocket *socket);

private:
    enum class Phase {
        Head, // a request head is due (the first, or one whose first bytes came)
        Body, // the head was accepted, its body is arriving
        Busy, // requests are being answered, or an event stream has the connection
        Idle, // every request answered, nothing new yet
    };

    void onReadyRead();
    // Checks the framing of a complete request head; false after refusing it.
    bool acceptHead(const QByteArray &head);
    // The head received so far, before its end: false (refused) when a line of it
    // is malformed already.
    bool acceptPartialHead();
    void rejectRequestLine(const QByteArray &traceparent);
    void rejectHeaderLine(int lineNumber, const QByteArray &traceparent);
    // Feeds body bytes of a chunked request; false after refusing it.
    bool checkChunks(const char *data, qsizetype size);
    void reject(const ApiError &error, const QByteArray &traceparent);
    void drain();
    void finishWriting(); // half-close: a FIN after the answer, reading goes on

    QTcpSocket *m_socket;
    Limits m_limits;
    QByteArray m_head;     // bytes of the current request until its header end is seen
    // How far acceptPartialHead() got in m_head: each complete line is checked once,
    // the incomplete last one again only once it has doubled (a head sent a byte at
    // a time costs linear work, not quadratic).
    struct PartialCheck {
        qsizetype from = 0;       // start of the first line not checked complete
        int lineNumber = 0;       // lines checked complete so far
        qsizetype lastLength = 0; // the incomplete line's length at its last check
    } m_partial;
    bool m_headComplete = false;
    qint64 m_bodyBudget = 0; // bytes allowed after the header
    qint64 m_seen = 0;       // bytes seen since the request began
    std::unique_ptr<ChunkedFraming> m_chunks; // the current request's chunked body, until it ends
    QByteArray m_traceparent; // the current request's, for a refusal of its body
    bool m_rejected = false;
    bool m_streaming = false;
    Phase m_phase = Phase::Head;
    QElapsedTimer m_clock;  // since the connection was accepted
    qint64 m_phaseSince = 0; // m_clock time the phase began (Body: the last bytes arrived)
    QTimer m_lingerTimer;
    quint64 m_nextNumber = 1;  // number of the next request dispatched
    quint64 m_http10Request = 0; // number of the last HTTP/1.0 request seen without keep-alive
    quint64 m_nextToWrite = 1; // number of the next response to write
    struct Ready {
        QByteArray bytes;
        bool close = false;
    };
    std::map<quint64, Ready> m_ready; // answered out of order, waiting for earlier ones
};
