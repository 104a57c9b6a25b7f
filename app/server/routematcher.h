#pragma once

#include <QByteArray>
#include <QString>
#include <QUuid>

// Maps a method and a path to one API route (ARCHITECTURE.md, API table). Pure
// function of its input, no allocation on the hot path beyond the id text.
class RouteMatcher
{
public:
    enum class Route {
        None,             // unknown path: 404
        CreateOrder,      // POST /api/orders
        ListOrders,       // GET  /api/orders
        AllOrdersStream,  // GET  /api/orders/stream
        CustomerOrders,   // GET  /api/orders/customer/{customerId}
        Order,            // GET  /api/orders/{id}
        Status,           // GET  /api/orders/{id}/status
        StatusStream,     // GET  /api/orders/{id}/status/stream
        History,          // GET  /api/orders/{id}/history
        Events,           // GET  /api/orders/{id}/events
        RetryEligibility, // GET  /api/orders/{id}/retry/eligibility
        Retry,            // POST /api/orders/{id}/retry
        RetryHistory,     // GET  /api/orders/{id}/retry/history
        GetFaults,        // GET  /api/simulator/faults
        PutFaults,        // PUT  /api/simulator/faults
        Health,           // GET  /health, /api/health
        Metrics,          // GET  /metrics, /api/metrics
    };

    enum class Method { Get, Post, Put, Other }; // HEAD is matched as Get

    struct Match {
        Route route = Route::None;
        bool methodAllowed = false; // false with route != None: answer 405 with `allow`
        QByteArray allow;           // e.g. "GET, HEAD, POST"
        QString idText;             // the {id} or {customerId} path segment as sent
        QString idField;            // "orderId" or "customerId"
        QUuid id;                   // parsed; null when idText is not a UUID (or is the nil UUID)
        bool idValid = false;       // idText is a well-formed UUID, the nil UUID included
    };

    static Match match(Method method, QStringView path);
    // Strict UUID text: 36 characters, hyphens at 8-13-18-23, hex elsewhere
    // (braces tolerated as Qt prints them).
    static QUuid parseUuid(QStringView text);
    static bool isUuidText(QStringView text);
};
