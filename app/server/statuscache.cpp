#include "statuscache.h"

#include "sagajson.h"
#include "sagalog.h"
#include "sagastore.h"
#include "storepool.h"

namespace {
const QByteArray kTracePlaceholder(32, '0');
// The placeholder as the body's top-level traceId member: an error message of a
// step may hold 32 zeros too (a service's text, an injected code), but inside a
// JSON string its quotes are escaped, so only the member itself matches this.
const QByteArray kTraceMember = QByteArrayLiteral("\"traceId\":\"") + kTracePlaceholder + '"';
const qsizetype kTraceValueOffset = kTraceMember.indexOf(kTracePlaceholder);

struct LoadResult {
    OrderProgress progress;
    QJsonObject terminalDetails; // keepEndDetails()
    StoreError::Kind error = StoreError::None;
};
} // namespace

StatusCache::StatusCache(StorePool *pool, int maxEntries, QObject *parent)
    : QObject(parent)
    , m_pool(pool)
    , m_maxEntries(qMax(16, maxEntries))
{
}

StatusCache::Applied StatusCache::apply(const OrderEvent &event)
{
    Applied result;
    auto loading = m_loading.find(event.orderId);
    if (loading != m_loading.end()) {
        loading->heldEvents.append(event);
        result.fold.outcome = FoldResult::Buffered;
        return result;
    }
    auto it = m_entries.find(event.orderId);
    if (it == m_entries.end()) {
        if (event.seq != 1) {
            result.fold.outcome = FoldResult::Buffered; // unknown order mid-way: loaded on demand
            return result;
        }
        evictIfNeeded();
        it = m_entries.insert(event.orderId, Entry{OrderProgress(event.orderId), {}, {}, -1, 0});
    }
    Entry &entry = it.value();
    result.fold = entry.progress.apply(event);
    if (result.fold.outcome == FoldResult::Applied) {
        keepEndDetails(&entry.terminalDetails, event);
        m_eta.observe(entry.progress, result.fold.changes);
        refreshEta(entry, QDateTime::currentDateTimeUtc());
        entry.statusBytes.clear();
    } else if (result.fold.outcome == FoldResult::Rejected) {
        qCWarning(lcServer) << "status cache rejected event" << event.orderId << event.seq
                            << result.fold.error;
    }
    result.entry = &entry;
    return result;
}

void StatusCache::refreshEta(Entry &entry, const QDateTime &now)
{
    entry.progress.estimatedCompletion = entry.progress.isTerminal() ? QDateTime() : m_eta.estimate(entry.progress, now);
}

const StatusCache::Entry *StatusCache::find(const QUuid &orderId) const
{
    const auto it = m_entries.constFind(orderId);
    return it == m_entries.constEnd() ? nullptr : &it.value();
}

void StatusCache::ensure(const QUuid &orderId, Loaded done)
{
    if (const Entry *entry = find(orderId)) {
        done(entry, StoreError::None);
        return;
    }
    auto loading = m_loading.find(orderId);
    if (loading != m_loading.end()) {
        loading->waiters.push_back(std::move(done));
        return;
    }
    m_loading[orderId].waiters.push_back(std::move(done));
    m_pool->run<LoadResult>(
        this,
        [orderId](SagaStore *store) {
            LoadResult result;
            if (!store) {
                result.error = StoreError::Unavailable;
                return result;
            }
            // With the end's details (estimated delivery), kept as for an order
            // followed live: a replayed answer needs them.
            auto loaded = store->loadProgress(orderId, &result.terminalDetails);
            result.error = loaded.error.kind;
            if (loaded.ok())
                result.progress = std::move(loaded.value);
            return result;
        },
        [this, orderId](LoadResult result) {
            finishLoad(orderId, std::move(result.progress), std::move(result.terminalDetails), result.error);
        });
}

void StatusCache::finishLoad(const QUuid &orderId, OrderProgress progress, QJsonObject terminalDetails,
                             StoreError::Kind error)
{
    Loading loading = m_loading.take(orderId);
    const Entry *entry = nullptr;
    if (error == StoreError::None) {
        evictIfNeeded();
        auto it = m_entries.insert(orderId, Entry{std::move(progress), std::move(terminalDetails), {}, -1, 0});
        refreshEta(it.value(), QDateTime::currentDateTimeUtc());
        entry = &it.value();
        for (const OrderEvent &event : std::as_const(loading.heldEvents))
            apply(event);
    } else if (!loading.heldEvents.isEmpty() && loading.heldEvents.front().seq == 1) {
        for (const OrderEvent &event : std::as_const(loading.heldEvents))
            apply(event);
        entry = find(orderId);
        if (entry)
            error = StoreError::None;
    }
    for (Loaded &waiter : loading.waiters)
        waiter(entry ? find(orderId) : nullptr, error);
}

QByteArray StatusCache::statusBody(const Entry &entry, const QByteArray &traceId)
{
    // The estimate was made when the order's last event arrived; a step that runs
    // longer than expected (a delayed call, a long rollback) leaves it behind, and
    // a client reads a past estimate as "should have finished already" while the
    // saga is still running. Made again from now, it is never before now.
    if (!entry.progress.isTerminal()) {
        const QDateTime now = QDateTime::currentDateTimeUtc();
        if (!entry.progress.estimatedCompletion.isValid() || entry.progress.estimatedCompletion < now) {
            const auto it = m_entries.find(entry.progress.orderId);
            if (it != m_entries.end() && &it.value() == &entry) {
                refreshEta(it.value(), now);
                it->statusBytes.clear();
            }
        }
    }
    if (entry.statusBytes.isEmpty()) {
        entry.statusBytes = SagaJson::statusToBytes(entry.progress, QString::fromLatin1(kTracePlaceholder));
        const qsizetype member = entry.statusBytes.lastIndexOf(kTraceMember);
        entry.traceOffset = member < 0 ? -1 : member + kTraceValueOffset;
    }
    QByteArray body = entry.statusBytes;
    if (entry.traceOffset >= 0 && traceId.size() == kTracePlaceholder.size())
        std::copy(traceId.cbegin(), traceId.cend(), body.begin() + entry.traceOffset);
    return body;
}

void StatusCache::pin(const QUuid &orderId)
{
    auto it = m_entries.find(orderId);
    if (it != m_entries.end())
        ++it->pins;
}

void StatusCache::unpin(const QUuid &orderId)
{
    auto it = m_entries.find(orderId);
    if (it != m_entries.end() && it->pins > 0)
        --it->pins;
}

void StatusCache::evictIfNeeded()
{
    if (m_entries.size() < m_maxEntries)
        return;
    const qsizetype target = m_maxEntries - m_maxEntries / 10;
    for (auto it = m_entries.begin(); it != m_entries.end() && m_entries.size() > target;) {
        if (it->pins == 0 && it->progress.isTerminal())
            it = m_entries.erase(it);
        else
            ++it;
    }
}
