#include "connectionguard.h"

#include "apierror.h"
#include "chunkedframing.h"
#include "httpreply.h"
#include "httptext.h"
#include "sagalog.h"
#include "tracecontext.h"

#include <QJsonObject>
#include <QTcpSocket>

#include <algorithm>

#ifdef Q_OS_UNIX
#include <sys/socket.h>
#endif

namespace {
constexpr qint64 kMaxHeaderBytes = 64 * 1024;
constexpr int kLingerMs = 2000;

bool isBlank(char c)
{
    return c == ' ' || c == '\t';
}

// Without the optional whitespace around a header value (SP, HTAB).
QByteArrayView withoutBlanks(QByteArrayView text)
{
    while (!text.isEmpty() && isBlank(text.front()))
        text = text.sliced(1);
    while (!text.isEmpty() && isBlank(text.back()))
        text.chop(1);
    return text;
}

// Whether `line` (trimmed) is METHOD SP TARGET SP HTTP/DIGIT.DIGIT (RFC 9112 3, 2.3),
// or, when its end has not arrived (`complete` false), can still become one.
bool requestLineFits(QByteArrayView line, bool complete)
{
    if (hasControlChar(line.cbegin(), line.cend()))
        return false;
    int spaces = 0;
    qsizetype partStart = 0;
    for (qsizetype i = 0; i <= line.size(); ++i) {
        if (i < line.size() && line[i] != ' ')
            continue;
        const QByteArrayView part = line.sliced(partStart, i - partStart);
        const bool last = i == line.size();
        if (part.isEmpty() && (!last || complete))
            return false; // METHOD or TARGET empty (two spaces), or nothing after the last space
        if (spaces == 2) { // the version, or its start
            static constexpr char pattern[] = "HTTP/D.D";
            if (part.size() > 8 || (complete && part.size() != 8))
                return false;
            for (qsizetype k = 0; k < part.size(); ++k) {
                const bool fits = pattern[k] == 'D' ? (part[k] >= '0' && part[k] <= '9') : part[k] == pattern[k];
                if (!fits)
                    return false;
            }
        }
        if (last)
            break;
        if (++spaces > 2)
            return false;
        partStart = i + 1;
    }
    return !complete || spaces == 2;
}

// Whether `line` is NAME ":" VALUE, the name a token right before the colon and the
// value without control characters (RFC 9112 5.1), or, when its end has not
// arrived (`complete` false), can still become one.
bool headerLineFits(QByteArrayView line, bool complete)
{
    const qsizetype colon = line.indexOf(':');
    if (colon < 0)
        return !complete && std::all_of(line.cbegin(), line.cend(), isTokenChar);
    return isToken(line.first(colon)) && !hasControlChar(line.cbegin() + colon + 1, line.cend());
}

// How many CR and LF bytes `head` begins with (empty lines before its request line).
qsizetype leadingEmptyLines(QByteArrayView head)
{
    qsizetype n = 0;
    while (n < head.size() && (head[n] == '\r' || head[n] == '\n'))
        ++n;
    return n;
}

bool containsNoCase(QByteArrayView text, const char *needle)
{
    return QByteArray(text.data(), text.size()).toLower().contains(needle);
}

// Host = uri-host [ ":" port ]: a name, an IPv4 address or an [IPv6] literal;
// no spaces, slashes, '@' or other characters a proxy might take for something else.
bool validHost(QByteArrayView host)
{
    return std::all_of(host.cbegin(), host.cend(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
               || QByteArrayView("-._~!$&'()*+,;=%:[]").contains(c);
    });
}

// Where a request head ends: at its first empty line, the line ends LF or CRLF
// (RFC 9112 2.2; QHttpServer's parser takes both). Returns the index of the LF
// that ends the last header line (-1: not yet) and the length of the end.
qsizetype headEnd(const QByteArray &head, qsizetype *endLength)
{
    const qsizetype bare = head.indexOf("\n\n");
    const qsizetype crlf = head.indexOf("\n\r\n");
    if (bare >= 0 && (crlf < 0 || bare < crlf)) {
        *endLength = 2;
        return bare;
    }
    *endLength = 3;
    return crlf;
}
} // namespace

ConnectionGuard::ConnectionGuard(QTcpSocket *socket, const Limits &limits)
    : QObject(socket)
    , m_socket(socket)
    , m_limits(limits)
{
    setObjectName(QStringLiteral("saga.connectionGuard"));
    connect(socket, &QIODevice::readyRead, this, &ConnectionGuard::onReadyRead);
    m_lingerTimer.setSingleShot(true);
    connect(&m_lingerTimer, &QTimer::timeout, socket, &QAbstractSocket::abort);
    m_clock.start(); // the first request's head is due from the start
}

ConnectionGuard::~ConnectionGuard() = default;

ConnectionGuard *ConnectionGuard::of(QTcpSocket *socket)
{
    return socket ? socket->findChild<ConnectionGuard *>(QString(), Qt::FindDirectChildrenOnly) : nullptr;
}

quint64 ConnectionGuard::requestDispatched()
{
    // Its head was complete (also when this guard did not see its end), its body too.
    m_head.clear();
    m_partial = {};
    m_headComplete = false;
    m_bodyBudget = 0;
    m_seen = 0;
    m_chunks.reset();
    m_traceparent.clear();
    m_phase = Phase::Busy;
    return m_nextNumber++;
}

void ConnectionGuard::respond(quint64 number, const QByteArray &bytes, bool close, bool stream)
{
    if (number < m_nextToWrite || m_ready.count(number) != 0)
        return; // answered already
    m_streaming = m_streaming || stream;
    m_ready.emplace(number, Ready{bytes, close});
    while (!m_ready.empty() && m_ready.begin()->first == m_nextToWrite) {
        auto node = m_ready.extract(m_ready.begin());
        ++m_nextToWrite;
        if (m_socket->state() != QAbstractSocket::ConnectedState)
            continue;
        m_socket->write(node.mapped().bytes);
        if (node.mapped().close) {
            m_ready.clear();
            m_socket->disconnectFromHost();
            return;
        }
    }
    if (m_phase == Phase::Busy && !m_streaming && m_nextToWrite == m_nextNumber) {
        m_phase = Phase::Idle; // every request answered: waiting for the next one
        m_phaseSince = m_clock.elapsed();
    }
}

void ConnectionGuard::checkTimers()
{
    if (m_rejected)
        return;
    const qint64 now = m_clock.elapsed();
    const qint64 elapsed = now - m_phaseSince;
    switch (m_phase) {
    case Phase::Head:
        if (m_limits.headTimeoutMs > 0 && elapsed >= m_limits.headTimeoutMs)
            reject(ApiError(408, QStringLiteral("REQUEST_TIMEOUT"),
                            QStringLiteral("The request head did not arrive within %1 s.")
                                .arg(m_limits.headTimeoutMs / 1000.0)),
                   {});
        break;
    case Phase::Body:
        if (m_limits.bodyTimeoutMs > 0 && elapsed >= m_limits.bodyTimeoutMs)
            reject(ApiError(408, QStringLiteral("REQUEST_TIMEOUT"),
                            QStringLiteral("The request body stopped arriving: nothing came for %1 s.")
                                .arg(m_limits.bodyTimeoutMs / 1000.0)),
                   m_traceparent);
        break;
    case Phase::Idle:
        if (m_socket->bytesToWrite() > 0) {
            m_phaseSince = now; // the client is still reading an answer
        } else if (m_limits.idleTimeoutMs > 0 && elapsed >= m_limits.idleTimeoutMs) {
            qCDebug(lcServer) << "closing a kept-alive connection idle for" << elapsed << "ms";
            m_phase = Phase::Busy;
            m_socket->disconnectFromHost();
        }
        break;
    case Phase::Busy:
        break;
    }
}

void ConnectionGuard::onReadyRead()
{
    if (m_rejected) {
        drain();
        return;
    }
    const qint64 available = m_socket->bytesAvailable();
    if (available <= 0)
        return;
    m_seen += available;
    if (!m_headComplete) {
        if (m_head.isEmpty() && (m_phase == Phase::Idle || m_phase == Phase::Busy)) {
            m_phase = Phase::Head; // a new request's first bytes
            m_phaseSince = m_clock.elapsed();
        }
        // One byte past the limit, so a head over it is seen even when it all
        // arrives in one read (QHttpServer reads everything after this slot).
        const QByteArray fresh = m_socket->peek(qMin<qint64>(available, kMaxHeaderBytes + 1 - m_head.size()));
        m_head.append(fresh);
        qsizetype endLength = 0;
        const qsizetype end = headEnd(m_head, &endLength);
        if (end < 0) {
            if (m_head.size() > kMaxHeaderBytes)
                reject(ApiError(431, QStringLiteral("HEADERS_TOO_LARGE"),
                                QStringLiteral("The request head is over %1 KiB.").arg(kMaxHeaderBytes / 1024)),
                       {});
            else
                acceptPartialHead();
            return;
        }
        m_headComplete = true;
        m_partial = {};
        m_phase = Phase::Body; // until the server dispatches the request
        m_phaseSince = m_clock.elapsed();
        if (!acceptHead(m_head.left(end)))
            return;
        m_bodyBudget = end + endLength + m_limits.maxBodyBytes + 4096; // body plus chunk framing
        if (m_chunks) {
            // The body's first bytes came with the end of the head (in this read).
            const qsizetype bodyStart = end + endLength - (m_head.size() - fresh.size());
            const QByteArray read = available > fresh.size() ? m_socket->peek(available) : fresh;
            m_head.clear();
            if (bodyStart < read.size() && !checkChunks(read.constData() + bodyStart, read.size() - bodyStart))
                return;
        } else {
            m_head.clear();
        }
    } else {
        m_phaseSince = m_clock.elapsed(); // the body goes on
        if (m_chunks) {
            const QByteArray read = m_socket->peek(available);
            if (!checkChunks(read.constData(), read.size()))
                return;
        }
    }
    if (m_seen > m_bodyBudget + kMaxHeaderBytes)
        reject(ApiError::payloadTooLarge(m_limits.maxBodyBytes), {});
}

bool ConnectionGuard::checkChunks(const char *data, qsizetype size)
{
    switch (m_chunks->feed(data, size)) {
    case ChunkedFraming::State::Invalid:
        reject(ApiError(400, QStringLiteral("INVALID_CHUNKED_BODY"), m_chunks->problem()), m_traceparent);
        return false;
    case ChunkedFraming::State::TooLarge:
        reject(ApiError::payloadTooLarge(m_limits.maxBodyBytes), m_traceparent);
        return false;
    default:
        return true;
    }
}

void ConnectionGuard::rejectRequestLine(const QByteArray &traceparent)
{
    reject(ApiError(400, QStringLiteral("BAD_REQUEST_LINE"),
                    QStringLiteral("The request line must be METHOD TARGET HTTP/1.1, with spaces in the target "
                                   "percent-encoded.")),
           traceparent);
}

void ConnectionGuard::rejectHeaderLine(int lineNumber, const QByteArray &traceparent)
{
    reject(ApiError(400, QStringLiteral("BAD_HEADER_LINE"),
                    QStringLiteral("Header line %1 is not NAME: VALUE. A header name is a token (letters, digits, "
                                   "!#$%&'*+-.^_`|~) right before the colon, and a value holds no control "
                                   "characters.")
                        .arg(lineNumber),
                    QJsonObject{{QStringLiteral("line"), lineNumber}}),
           traceparent);
}

bool ConnectionGuard::acceptPartialHead()
{
    // QHttpServer parses a head as it arrives and drops the connection without an
    // answer at the first byte it cannot take: what is malformed already is refused
    // now, as acceptHead() would refuse it once the head is complete.
    if (m_partial.lineNumber == 0)
        m_partial.from = leadingEmptyLines(m_head); // ignored, as acceptHead() does
    for (qsizetype pos = m_partial.from; pos < m_head.size();) {
        qsizetype lineEnd = m_head.indexOf('\n', pos);
        const bool complete = lineEnd >= 0;
        if (!complete) {
            lineEnd = m_head.size();
            if (lineEnd - pos < 2 * m_partial.lastLength)
                return true; // judged when it has doubled, or is complete
            m_partial.lastLength = lineEnd - pos;
        }
        QByteArrayView line(m_head.constData() + pos, lineEnd - pos);
        const int lineNumber = m_partial.lineNumber + 1;
        if (complete) {
            m_partial.from = lineEnd + 1;
            m_partial.lineNumber = lineNumber;
            m_partial.lastLength = 0;
        }
        pos = lineEnd + 1;
        if (line.endsWith('\r')) // (also a CR whose LF has not arrived yet)
            line.chop(1);
        if (lineNumber == 1) {
            if (!requestLineFits(line.trimmed(), complete)) {
                rejectRequestLine({});
                return false;
            }
        } else if (!headerLineFits(line, complete)) {
            rejectHeaderLine(lineNumber, {});
            return false;
        }
    }
    return true;
}

bool ConnectionGuard::acceptHead(const QByteArray &wholeHead)
{
    // Empty lines before the request line are ignored (RFC 9112 2.2), as Qt's parser does.
    const QByteArray head = wholeHead.mid(leadingEmptyLines(wholeHead));
    const qsizetype firstLineEnd = head.indexOf('\n');
    QByteArray traceparent;
    QList<QByteArray> lengths;
    QList<QByteArray> codings;
    bool keepAlive = false;
    bool connectionUpgrade = false;
    bool webSocket = false;
    int hosts = 0;
    bool hostValid = true;
    int badLine = 0;
    int lineNumber = 1;
    for (qsizetype pos = firstLineEnd < 0 ? head.size() : firstLineEnd + 1; pos < head.size();) {
        qsizetype lineEnd = head.indexOf('\n', pos);
        if (lineEnd < 0)
            lineEnd = head.size();
        QByteArrayView line(head.constData() + pos, lineEnd - pos);
        pos = lineEnd + 1;
        ++lineNumber;
        if (line.endsWith('\r'))
            line.chop(1);
        // NAME ":" OWS VALUE OWS, the name a token right before the colon (RFC 9112 5.1):
        // "Content-Length : 5" is not Content-Length to every parser.
        const qsizetype colon = line.indexOf(':');
        const QByteArrayView name = colon > 0 ? line.first(colon) : QByteArrayView();
        if (!headerLineFits(line, true)) {
            badLine = lineNumber;
            break;
        }
        const QByteArrayView value = withoutBlanks(line.sliced(colon + 1));
        if (name.compare("content-length", Qt::CaseInsensitive) == 0) {
            lengths.append(value.toByteArray());
        } else if (name.compare("transfer-encoding", Qt::CaseInsensitive) == 0) {
            codings.append(value.toByteArray().toLower());
        } else if (name.compare("host", Qt::CaseInsensitive) == 0) {
            ++hosts;
            hostValid = hostValid && validHost(value);
        } else if (name.compare("traceparent", Qt::CaseInsensitive) == 0) {
            traceparent = value.toByteArray();
        } else if (name.compare("connection", Qt::CaseInsensitive) == 0) {
            keepAlive = keepAlive || containsNoCase(value, "keep-alive");
            connectionUpgrade = connectionUpgrade || containsNoCase(value, "upgrade");
        } else if (name.compare("upgrade", Qt::CaseInsensitive) == 0) {
            webSocket = webSocket || containsNoCase(value, "websocket");
        }
    }
    QByteArray requestLineText = head.left(firstLineEnd < 0 ? head.size() : firstLineEnd).trimmed();
    // METHOD SP TARGET SP HTTP/DIGIT.DIGIT: anything else would be dropped without an answer.
    if (!requestLineFits(requestLineText, true)) {
        rejectRequestLine(traceparent);
        return false;
    }
    const QByteArray version = requestLineText.mid(requestLineText.lastIndexOf(' ') + 1);
    const bool http10 = version == "HTTP/1.0";
    if (version != "HTTP/1.1" && !http10) {
        reject(ApiError(505, QStringLiteral("HTTP_VERSION_NOT_SUPPORTED"),
                        QStringLiteral("This server speaks HTTP/1.1 (and 1.0).")),
               traceparent);
        return false;
    }

    if (badLine != 0) {
        rejectHeaderLine(badLine, traceparent);
        return false;
    }
    // RFC 9112 3.2: an HTTP/1.1 request has one Host; no request has two.
    if (hosts > 1 || (hosts == 0 && !http10) || !hostValid) {
        const QString why = hosts > 1 ? QStringLiteral("Send one Host header, not %1.").arg(hosts)
                            : hosts == 0 ? QStringLiteral("An HTTP/1.1 request needs a Host header.")
                                         : QStringLiteral("The Host header must be a host name or address, "
                                                          "optionally with :port.");
        reject(ApiError(400, QStringLiteral("INVALID_HEADER"), why,
                        QJsonObject{{QStringLiteral("header"), QStringLiteral("Host")}}),
               traceparent);
        return false;
    }
    // This head is the next request to be dispatched (the guard looks at a head
    // only once the one before it was dispatched).
    if (http10 && !keepAlive)
        m_http10Request = m_nextNumber;
    m_traceparent = traceparent;
    // Qt 6.4 answers a WebSocket handshake twice (the handler's answer, then a 404
    // once it finds no WebSocket server) and leaves the connection in between.
    if (webSocket && connectionUpgrade) {
        reject(ApiError(400, QStringLiteral("UPGRADE_NOT_SUPPORTED"),
                        QStringLiteral("This server has no WebSocket endpoints: its live updates are event streams "
                                       "(Accept: text/event-stream). Send the request without Upgrade.")),
               traceparent);
        return false;
    }
    for (const QByteArray &coding : std::as_const(codings)) {
        if (coding != "chunked") {
            reject(ApiError(501, QStringLiteral("NOT_IMPLEMENTED"),
                            QStringLiteral("Transfer-Encoding %1 is not understood; send the body plain or chunked.")
                                .arg(QString::fromLatin1(coding.left(100)))),
                   traceparent);
            return false;
        }
    }
    if (!codings.isEmpty()) {
        if (!lengths.isEmpty()) {
            reject(ApiError(400, QStringLiteral("AMBIGUOUS_FRAMING"),
                            QStringLiteral("Send either Content-Length or Transfer-Encoding, not both.")),
                   traceparent);
            return false;
        }
        if (http10) { // RFC 9112 6.1: HTTP/1.0 has no transfer codings; a proxy may not read them
            reject(ApiError(400, QStringLiteral("AMBIGUOUS_FRAMING"),
                            QStringLiteral("An HTTP/1.0 request cannot be chunked: send Content-Length, or HTTP/1.1.")),
                   traceparent);
            return false;
        }
        m_chunks = std::make_unique<ChunkedFraming>(m_limits.maxBodyBytes);
        return true;
    }
    if (lengths.isEmpty())
        return true;
    const QByteArray &first = lengths.first();
    if (!isDecimalNumber(first, 18) || lengths.count(first) != lengths.size()) {
        reject(ApiError(400, QStringLiteral("INVALID_CONTENT_LENGTH"),
                        QStringLiteral("Content-Length must be one number of bytes.")),
               traceparent);
        return false;
    }
    if (first.toLongLong() > m_limits.maxBodyBytes) {
        reject(ApiError::payloadTooLarge(m_limits.maxBodyBytes), traceparent);
        return false;
    }
    return true;
}

void ConnectionGuard::reject(const ApiError &error, const QByteArray &traceparent)
{
    m_rejected = true;
    // Nothing of this connection reaches the HTTP server any more.
    disconnect(m_socket, &QIODevice::readyRead, nullptr, nullptr);
    connect(m_socket, &QIODevice::readyRead, this, &ConnectionGuard::drain);
    const TraceContext trace = TraceContext::continueOrStart(traceparent);
    qCInfo(lcServer).noquote() << "trace" << trace.traceId() << error.status() << error.error()
                               << "(connection closed):" << error.message();
    m_socket->write(HttpReply::build(error.status(), "application/json", error.toBody(), trace.traceparent(), {}, true));
    m_socket->flush();
    drain();
    // Lingering close: end the answer with a FIN but keep reading (and dropping)
    // what the client still sends, so it reads the answer instead of a reset; it
    // closes its side on the FIN, or the linger timer aborts the connection.
    if (m_socket->bytesToWrite() == 0)
        finishWriting();
    else
        connect(m_socket, &QIODevice::bytesWritten, this, [this] {
            if (m_socket->bytesToWrite() == 0)
                finishWriting();
        });
    m_lingerTimer.start(kLingerMs);
}

void ConnectionGuard::finishWriting()
{
#ifdef Q_OS_UNIX
    if (m_socket->socketDescriptor() != -1)
        ::shutdown(int(m_socket->socketDescriptor()), SHUT_WR);
#endif
}

void ConnectionGuard::drain()
{
    // Read and drop what the client still sends so it sees the 413 instead of a reset.
    m_socket->skip(m_socket->bytesAvailable());
}
