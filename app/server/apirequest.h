#pragma once

#include "principal.h"
#include "ratelimiter.h"
#include "routematcher.h"
#include "tracecontext.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QPointer>
#include <QString>
#include <QTcpSocket>
#include <QUrlQuery>
#include <memory>
#include <optional>

// What a handler needs of one HTTP request, copied out of QHttpServerRequest
// (which lives only during the synchronous handleRequest call) so the answer
// can be written later, from a queued callback, if the client is still there.
struct ApiRequest {
    QPointer<QTcpSocket> socket;
    TraceContext trace;
    RouteMatcher::Match route;
    Principal principal;
    QByteArray method;
    QString path;
    QUrlQuery query;
    QByteArray body;
    QByteArray contentType;
    QByteArray prefer;
    QByteArray lastEventId;
    std::optional<QByteArray> idempotencyKey; // POST /api/orders: the Idempotency-Key header, when sent
    bool closeAfter = false; // the client sent "Connection: close"
    bool head = false;       // HEAD: answered like GET, without the body
    quint64 responseNumber = 0; // order of the answer on its connection (0: write at once)
    QElapsedTimer timer;
    // An event stream's place among its client's (RateLimiter): held by the
    // request until the stream starts, then by the stream; null when not limited.
    std::shared_ptr<RateLimiter::StreamSlot> streamSlot;
};
