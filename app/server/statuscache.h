#pragma once

#include "etaestimator.h"
#include "orderprogress.h"
#include "storeerror.h"

#include <QByteArray>
#include <QDateTime>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QUuid>
#include <functional>
#include <vector>

class StorePool;

// The server's in-memory order status: every committed event is folded with
// OrderProgress::apply (the same fold every reader uses), and the serialized
// GET .../status body is cached per order version so a status request costs a
// hash lookup and one 32-byte patch (the request's trace id).
//
// Orders enter the cache from their first event (seq 1) or, on a miss, from the
// store (loaded on the StorePool). While a load is in flight the order's events
// are held and applied after the snapshot, so nothing committed in between is
// lost (duplicates are ignored by seq). Lives in the server thread.
class StatusCache : public QObject
{
    Q_OBJECT
public:
    struct Entry {
        OrderProgress progress;
        QJsonObject terminalDetails; // details of the last SAGA_COMPLETED / SAGA_FAILED
        mutable QByteArray statusBytes; // built lazily per version; trace id placeholder inside
        mutable qsizetype traceOffset = -1;
        int pins = 0; // open streams / waiters keep the entry
    };
    using Loaded = std::function<void(const Entry *entry, StoreError::Kind error)>;

    struct Applied {
        const Entry *entry = nullptr; // null when the order is not tracked
        FoldResult fold;
    };

    explicit StatusCache(StorePool *pool, int maxEntries = 100000, QObject *parent = nullptr);

    Applied apply(const OrderEvent &event);
    const Entry *find(const QUuid &orderId) const;
    // Calls `done` with the entry, at once when cached, else after loading it.
    void ensure(const QUuid &orderId, Loaded done);

    // The status body for `traceId` (32 hex); the entry must be current. An
    // estimate of a running order that is already past (a step or a rollback
    // taking longer than the estimator expected) is made again from now first, so
    // what is served never predicts a time before it was served.
    QByteArray statusBody(const Entry &entry, const QByteArray &traceId);

    void pin(const QUuid &orderId);
    void unpin(const QUuid &orderId);
    int size() const { return int(m_entries.size()); }
    EtaEstimator &eta() { return m_eta; }

private:
    struct Loading {
        std::vector<Loaded> waiters;
        QVector<OrderEvent> heldEvents;
    };
    void finishLoad(const QUuid &orderId, OrderProgress progress, QJsonObject terminalDetails, StoreError::Kind error);
    void refreshEta(Entry &entry, const QDateTime &now);
    void evictIfNeeded();

    StorePool *m_pool;
    int m_maxEntries;
    QHash<QUuid, Entry> m_entries;
    QHash<QUuid, Loading> m_loading;
    EtaEstimator m_eta;
};
