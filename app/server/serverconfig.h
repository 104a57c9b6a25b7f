#pragma once

#include "engineconfig.h"

#include <QByteArray>
#include <QHostAddress>

// Everything saga-server needs to run (from the command line or a test).
struct ServerConfig {
    QHostAddress listenAddress = QHostAddress::LocalHost;
    quint16 listenPort = 8080;       // 0 picks a free port
    QString listenHost = QStringLiteral("127.0.0.1"); // as printed in "listening on"
    EngineConfig engine;
    QByteArray authKey;              // HMAC key (secret file content, trailing whitespace removed)
    qint64 tokenLeewaySeconds = 30;  // exp/nbf leeway, at most 60
    qint64 maxBodyBytes = 1024 * 1024;
    int requestHeadTimeoutMs = 30000; // a request head must be complete this long after its first byte
    int requestBodyTimeoutMs = 30000; // a request body may pause this long (no bytes) before 408
    int keepAliveTimeoutMs = 75000;   // a connection with every request answered closes after this long idle
    int heartbeatMs = 15000;         // ":" comment on every event stream
    int sseRetryMs = 3000;           // "retry:" sent to event-stream clients
    qint64 sseMaxBacklogBytes = 256 * 1024; // unsent bytes per stream before it is dropped
    int readThreads = 2;             // StorePool threads for SQL reads
    int maxWaitSeconds = 60;         // upper bound of "Prefer: wait=N"
    // A new order whose recording the engine has not answered in this long (its commit
    // was cut off and the database is away): 503 ORDER_OUTCOME_UNKNOWN, "may have been placed".
    int submitAnswerMs = 15000;
    int shutdownGraceMs = 10000;     // in-flight sagas get this long on SIGTERM
    int statusCacheEntries = 100000;
    int replayChunkEvents = 1000;    // all-orders resume: events read (and written) per page
    int feedCheckMs = 1000;          // event feed: connection check / catch-up interval (SQLite: at most EventFeed::kSqlitePollMs)
    int feedChunkEvents = 1000;      // event feed: events read per query
    // Per client (token subject; peer address without a valid token): requests that
    // create work (POST /orders, POST /orders/{id}/retry, PUT /simulator/faults, and
    // every request refused 401) through a token bucket; open event streams.
    double rateLimitPerSecond = 50;  // sustained; 0: no limit (--rate-limit off)
    double rateLimitBurst = 200;     // bucket size
    int maxStreamsPerClient = 64;    // open event streams at once; 0: no limit
    int streamRetryAfterSeconds = 5; // Retry-After of a stream refused for the limit
};
