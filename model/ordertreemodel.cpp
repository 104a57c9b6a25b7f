#include "ordertreemodel.h"

#include "ordertreenode.h"
#include "sagalog.h"

#include <QThread>
#include <algorithm>
#include <limits>

namespace {

constexpr int kOrderColumnCount = OrderTreeModel::ColumnCount;

QString formatDuration(qint64 ms)
{
    if (ms < 0)
        return {};
    if (ms < 60000)
        return QStringLiteral("%1 s").arg(double(ms) / 1000.0, 0, 'f', 1);
    return QStringLiteral("%1 min %2 s").arg(ms / 60000).arg((ms % 60000) / 1000);
}

QDateTime shownTime(const StepProgress &sp)
{
    return sp.completedAt.isValid() ? sp.completedAt : sp.startedAt;
}

// Display text of a time cell changes only when its second changes (the format
// has no milliseconds; time zone offsets are whole seconds).
bool sameSecond(const QDateTime &a, const QDateTime &b)
{
    if (a.isValid() != b.isValid())
        return false;
    return !a.isValid() || a.toMSecsSinceEpoch() / 1000 == b.toMSecsSinceEpoch() / 1000;
}

qint64 msecsOrMax(const QDateTime &t)
{
    return t.isValid() ? t.toMSecsSinceEpoch() : std::numeric_limits<qint64>::max();
}

// Why the saga failed, for its row: the error's message (its code when it has
// none), led by "Compensation incomplete: " when a reversal kept failing; the
// step icons beside it show which step. Empty when nothing failed.
bool hasFailure(const OrderProgress &p)
{
    return !p.failure.isNull() || p.compensationIncomplete;
}

QString failureText(const OrderProgress &p)
{
    if (!hasFailure(p))
        return {};
    const QString reason = p.failure.message.isEmpty() ? p.failure.code : p.failure.message;
    if (!p.compensationIncomplete)
        return reason;
    return reason.isEmpty() ? OrderTreeModel::tr("Compensation incomplete")
                            : OrderTreeModel::tr("Compensation incomplete: %1").arg(reason);
}

// The same spelled out, with the failed step and the error code support agents
// search for: "Payment Processing failed: Card declined\nPAYMENT_DECLINED".
QString failureToolTip(const OrderProgress &p)
{
    QString text = failureText(p);
    if (text.isEmpty())
        return text;
    if (p.failedStep)
        text = OrderTreeModel::tr("%1 failed: %2").arg(stepDisplayName(*p.failedStep), text);
    return p.failure.code.isEmpty() ? text : QStringLiteral("%1\n%2").arg(text, p.failure.code);
}

// Collects the columns and roles of one row that changed.
struct RowChange {
    int first = -1;
    int last = -1;
    QList<int> roles;

    void add(int column, std::initializer_list<int> changedRoles)
    {
        first = first < 0 ? column : std::min(first, column);
        last = std::max(last, column);
        for (int r : changedRoles) {
            if (!roles.contains(r))
                roles.append(r);
        }
    }
    bool isEmpty() const { return first < 0; }
};

} // namespace

OrderTreeModel::OrderTreeModel(QObject *parent) : QAbstractItemModel(parent)
{
    m_clock = [] { return QDateTime::currentDateTimeUtc(); };
}

OrderTreeModel::~OrderTreeModel() = default;

QModelIndex OrderTreeModel::index(int row, int column, const QModelIndex &parent) const
{
    if (!hasIndex(row, column, parent))
        return {};
    if (!parent.isValid())
        return createIndex(row, column, nullptr);
    // Only order rows (no internal pointer) have children.
    return createIndex(row, column, m_orders[size_t(parent.row())].get());
}

QModelIndex OrderTreeModel::parent(const QModelIndex &child) const
{
    if (!child.isValid() || !child.internalPointer())
        return {};
    const auto *node = static_cast<const OrderTreeNode *>(child.internalPointer());
    return createIndex(node->row(), 0, nullptr);
}

int OrderTreeModel::rowCount(const QModelIndex &parent) const
{
    if (!parent.isValid())
        return int(m_orders.size());
    if (parent.internalPointer() || parent.column() != 0)
        return 0;
    return kStepCount;
}

int OrderTreeModel::columnCount(const QModelIndex &) const
{
    return kOrderColumnCount;
}

QVariant OrderTreeModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.column() < 0 || index.column() >= kOrderColumnCount)
        return {};
    if (const auto *node = static_cast<const OrderTreeNode *>(index.internalPointer())) {
        if (index.row() < 0 || index.row() >= kStepCount)
            return {};
        return stepData(*node, SagaStep(index.row()), index.column(), role);
    }
    if (index.row() < 0 || size_t(index.row()) >= m_orders.size())
        return {};
    return orderData(*m_orders[size_t(index.row())], index.column(), role);
}

QVariant OrderTreeModel::orderData(const OrderTreeNode &node, int column, int role) const
{
    const OrderProgress &p = node.progress;
    const bool col0 = column == OrderNumberColumn;
    switch (role) {
    case IsStepRole:
        return false;
    case OrderIdRole:
        return p.orderId;
    case StepRole:
        return -1;
    case RawStatusRole:
        return (col0 || column == StatusColumn) ? QVariant(int(p.overallStatus)) : QVariant();
    case ProgressRole:
        return (col0 || column == ProgressColumn) ? QVariant(p.progressPercent()) : QVariant();
    case EtaRole:
        return (col0 || column == EtaColumn) ? QVariant(p.estimatedCompletion) : QVariant();
    case IsLateRole:
        return (col0 || column == EtaColumn) ? QVariant(m_eta.isLate(p, now())) : QVariant();
    case ErrorCodeRole:
        return (col0 || column == StatusColumn) ? QVariant(p.failure.code) : QVariant();
    case ErrorMessageRole:
        return (col0 || column == StatusColumn) ? QVariant(p.failure.message) : QVariant();
    case StepStatusesRole:
        if (!col0)
            return {};
        return QVariantList{int(p.steps[0].status), int(p.steps[1].status), int(p.steps[2].status)};
    case TimestampRole:
        return (col0 || column == LastUpdatedColumn) ? QVariant(p.lastUpdated) : QVariant();
    case SearchTextRole:
        if (!col0)
            return {};
        return p.orderId.toString(QUuid::WithoutBraces) + QLatin1Char(' ') + p.orderNumber + QLatin1Char(' ')
               + (p.customerId.isNull() ? QString() : p.customerId.toString(QUuid::WithoutBraces)) + QLatin1Char(' ')
               + toString(p.overallStatus) + QLatin1Char(' ') + p.failure.code + QLatin1Char(' ') + p.failure.message;
    case CustomerIdRole:
        return (col0 || column == CustomerColumn) ? QVariant(p.customerId) : QVariant();
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
    case SortRole:
        break;
    default:
        return {};
    }
    const bool sort = role == SortRole;
    switch (column) {
    case OrderNumberColumn:
        return orderNumberText(p);
    case CustomerColumn:
        return p.customerId.isNull() ? QString() : p.customerId.toString(QUuid::WithoutBraces);
    case StatusColumn:
        return sort ? QVariant(int(p.overallStatus)) : QVariant(toString(p.overallStatus));
    case CurrentStepColumn:
        // The running step; between steps and after the end, why the saga failed.
        if (sort)
            return p.currentStep ? int(*p.currentStep) : hasFailure(p) ? kStepCount : -1;
        if (p.currentStep)
            return stepDisplayName(*p.currentStep);
        return role == Qt::ToolTipRole ? failureToolTip(p) : failureText(p);
    case ProgressColumn:
        return sort ? QVariant(p.progressPercent())
                    : QVariant(QStringLiteral("%1 %").arg(p.progressPercent()));
    case LastUpdatedColumn:
        return sort ? QVariant(msecsOrMax(p.lastUpdated)) : QVariant(formatTime(p.lastUpdated));
    case EtaColumn:
        return sort ? QVariant(msecsOrMax(p.estimatedCompletion))
                    : QVariant(formatTime(p.estimatedCompletion));
    default:
        return {};
    }
}

QVariant OrderTreeModel::stepData(const OrderTreeNode &node, SagaStep step, int column, int role) const
{
    const OrderProgress &p = node.progress;
    const StepProgress &sp = p.step(step);
    const bool col0 = column == OrderNumberColumn;
    switch (role) {
    case IsStepRole:
        return true;
    case OrderIdRole:
        return p.orderId;
    case StepRole:
        return int(step);
    case RawStatusRole:
        return (col0 || column == StatusColumn) ? QVariant(int(sp.status)) : QVariant();
    case ErrorCodeRole:
        return (col0 || column == CurrentStepColumn) ? QVariant(sp.errorCode) : QVariant();
    case ErrorMessageRole:
        return (col0 || column == CurrentStepColumn) ? QVariant(sp.errorMessage) : QVariant();
    case TimestampRole:
        return (col0 || column == LastUpdatedColumn) ? QVariant(shownTime(sp)) : QVariant();
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
    case SortRole:
        break;
    default:
        return {};
    }
    const bool sort = role == SortRole;
    switch (column) {
    case OrderNumberColumn:
        return sort ? QVariant(int(step)) : QVariant(sp.name());
    case StatusColumn:
        return sort ? QVariant(int(sp.status)) : QVariant(toString(sp.status));
    case CurrentStepColumn:
        return sp.errorMessage;
    case ProgressColumn:
        return sort ? QVariant(sp.durationMs()) : QVariant(formatDuration(sp.durationMs()));
    case LastUpdatedColumn:
        return sort ? QVariant(msecsOrMax(shownTime(sp))) : QVariant(formatTime(shownTime(sp)));
    default:
        return sort ? QVariant() : QVariant(QString());
    }
}

QVariant OrderTreeModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case OrderNumberColumn:
        return tr("Order");
    case CustomerColumn:
        return tr("Customer");
    case StatusColumn:
        return tr("Status");
    case CurrentStepColumn:
        return tr("Current step / Error");
    case ProgressColumn:
        return tr("Progress / Duration");
    case LastUpdatedColumn:
        return tr("Last updated");
    case EtaColumn:
        return tr("ETA");
    default:
        return {};
    }
}

QHash<int, QByteArray> OrderTreeModel::roleNames() const
{
    QHash<int, QByteArray> names = QAbstractItemModel::roleNames();
    names.insert(RawStatusRole, "rawStatus");
    names.insert(IsStepRole, "isStep");
    names.insert(OrderIdRole, "orderId");
    names.insert(StepRole, "step");
    names.insert(ProgressRole, "progress");
    names.insert(EtaRole, "eta");
    names.insert(IsLateRole, "isLate");
    names.insert(ErrorCodeRole, "errorCode");
    names.insert(ErrorMessageRole, "errorMessage");
    names.insert(StepStatusesRole, "stepStatuses");
    names.insert(TimestampRole, "timestamp");
    names.insert(SortRole, "sort");
    names.insert(SearchTextRole, "searchText");
    names.insert(CustomerIdRole, "customerId");
    return names;
}

void OrderTreeModel::applyEvent(const OrderEvent &event)
{
    applyEvents(QVector<OrderEvent>{event});
}

void OrderTreeModel::applyEvents(const QVector<OrderEvent> &events)
{
    Q_ASSERT_X(QThread::currentThread() == thread(), "OrderTreeModel::applyEvents",
               "the model is touched only from its own thread");
    std::vector<std::unique_ptr<OrderTreeNode>> fresh;
    QVector<std::pair<int, QString>> rejectedEvents; // index into events, reason
    m_touchCount = 0;

    for (int i = 0; i < events.size(); ++i) {
        const OrderEvent &e = events[i];
        OrderTreeNode *node = m_byId.value(e.orderId, nullptr);
        if (!node) {
            if (e.orderId.isNull()) {
                rejectedEvents.append({i, QStringLiteral("event without an order id")});
                continue;
            }
            fresh.push_back(std::make_unique<OrderTreeNode>(e.orderId, int(m_orders.size() + fresh.size())));
            node = fresh.back().get();
            m_byId.insert(e.orderId, node);
        }
        const bool existing = node->inserted;
        if (existing && node->touchIndex < 0) {
            // Remember the state the views have seen, once per batch.
            if (m_touchCount == m_touches.size())
                m_touches.emplace_back();
            Touch &t = m_touches[m_touchCount];
            t.node = node;
            t.before = node->progress;
            t.changes = ChangeSet();
            node->touchIndex = int(m_touchCount++);
        }
        FoldResult r = node->progress.apply(e);
        if (r.outcome == FoldResult::Rejected) {
            rejectedEvents.append({i, r.error});
            continue;
        }
        if (r.outcome != FoldResult::Applied)
            continue;
        OrderProgress &p = node->progress;
        m_eta.observe(p, r.changes);
        const QDateTime eta = m_eta.estimate(p, e.timestamp);
        if (eta != p.estimatedCompletion) {
            p.estimatedCompletion = eta;
            r.changes.order |= ChangeSet::Eta;
        }
        if (existing)
            m_touches[size_t(node->touchIndex)].changes.merge(r.changes);
    }

    if (!fresh.empty()) {
        // Orders whose every event was rejected never appear.
        fresh.erase(std::remove_if(fresh.begin(), fresh.end(),
                                   [this](const std::unique_ptr<OrderTreeNode> &n) {
                                       const bool empty = n->progress.lastSeq == 0
                                                          && n->progress.bufferedCount() == 0;
                                       if (empty)
                                           m_byId.remove(n->progress.orderId);
                                       return empty;
                                   }),
                    fresh.end());
    }
    if (!fresh.empty()) {
        const int first = int(m_orders.size());
        const int last = first + int(fresh.size()) - 1;
        beginInsertRows({}, first, last);
        m_orders.reserve(m_orders.size() + fresh.size());
        for (auto &n : fresh) {
            n->setRow(int(m_orders.size()));
            n->inserted = true;
            m_orders.push_back(std::move(n));
        }
        endInsertRows();
        Q_EMIT ordersInserted(last - first + 1);
    }

    for (size_t i = 0; i < m_touchCount; ++i) {
        Touch &t = m_touches[i];
        t.node->touchIndex = -1;
        if (!t.changes.isEmpty())
            emitChanges(t);
    }
    m_touchCount = 0;

    for (const auto &[index, reason] : std::as_const(rejectedEvents)) {
        qCDebug(lcModel) << "event rejected:" << reason;
        Q_EMIT eventRejected(events[index], reason);
    }
}

void OrderTreeModel::emitChanges(const Touch &t)
{
    const OrderProgress &a = t.before;
    const OrderProgress &b = t.node->progress;
    const int row = t.node->row();

    if (t.changes.order != 0 || !(t.changes.steps[0] == 0 && t.changes.steps[1] == 0 && t.changes.steps[2] == 0)) {
        RowChange rc;
        const bool overall = a.overallStatus != b.overallStatus;
        const bool number = a.orderNumber != b.orderNumber;
        const bool customer = a.customerId != b.customerId;
        const bool pct = a.progressPercent() != b.progressPercent();
        const bool eta = a.estimatedCompletion != b.estimatedCompletion;
        const bool updated = a.lastUpdated != b.lastUpdated;
        const bool current = a.currentStep != b.currentStep || a.failure != b.failure || a.failedStep != b.failedStep
                             || a.compensationIncomplete != b.compensationIncomplete;
        bool stepStatuses = false;
        for (int i = 0; i < kStepCount; ++i)
            stepStatuses |= a.steps[size_t(i)].status != b.steps[size_t(i)].status;

        if (number)
            rc.add(OrderNumberColumn, {Qt::DisplayRole, Qt::ToolTipRole, SortRole, SearchTextRole});
        if (customer) {
            rc.add(OrderNumberColumn, {SearchTextRole, CustomerIdRole});
            rc.add(CustomerColumn, {Qt::DisplayRole, Qt::ToolTipRole, SortRole, CustomerIdRole});
        }
        if (overall) {
            rc.add(OrderNumberColumn, {RawStatusRole, SearchTextRole});
            rc.add(StatusColumn, {Qt::DisplayRole, Qt::ToolTipRole, SortRole, RawStatusRole});
        }
        if (a.failure.code != b.failure.code) {
            rc.add(OrderNumberColumn, {ErrorCodeRole, SearchTextRole});
            rc.add(StatusColumn, {ErrorCodeRole});
        }
        if (a.failure.message != b.failure.message) {
            rc.add(OrderNumberColumn, {ErrorMessageRole, SearchTextRole});
            rc.add(StatusColumn, {ErrorMessageRole});
        }
        if (stepStatuses)
            rc.add(OrderNumberColumn, {StepStatusesRole});
        if (current)
            rc.add(CurrentStepColumn, {Qt::DisplayRole, Qt::ToolTipRole, SortRole});
        if (pct) {
            rc.add(OrderNumberColumn, {ProgressRole});
            rc.add(ProgressColumn, {Qt::DisplayRole, Qt::ToolTipRole, SortRole, ProgressRole});
        }
        if (updated) {
            rc.add(OrderNumberColumn, {TimestampRole});
            rc.add(LastUpdatedColumn, {SortRole, TimestampRole});
            if (!sameSecond(a.lastUpdated, b.lastUpdated))
                rc.add(LastUpdatedColumn, {Qt::DisplayRole, Qt::ToolTipRole});
        }
        // Lateness depends on the clock; it is re-announced with the estimate.
        if (eta) {
            rc.add(OrderNumberColumn, {EtaRole, IsLateRole});
            rc.add(EtaColumn, {SortRole, EtaRole, IsLateRole});
            if (!sameSecond(a.estimatedCompletion, b.estimatedCompletion))
                rc.add(EtaColumn, {Qt::DisplayRole, Qt::ToolTipRole});
        }
        if (!rc.isEmpty())
            Q_EMIT dataChanged(createIndex(row, rc.first, nullptr), createIndex(row, rc.last, nullptr), rc.roles);
    }

    for (int i = 0; i < kStepCount; ++i) {
        if (t.changes.steps[size_t(i)] == 0)
            continue;
        const StepProgress &sa = a.steps[size_t(i)];
        const StepProgress &sb = b.steps[size_t(i)];
        RowChange rc;
        if (sa.status != sb.status) {
            rc.add(OrderNumberColumn, {RawStatusRole});
            rc.add(StatusColumn, {Qt::DisplayRole, Qt::ToolTipRole, SortRole, RawStatusRole});
        }
        if (sa.errorCode != sb.errorCode) {
            rc.add(OrderNumberColumn, {ErrorCodeRole});
            rc.add(CurrentStepColumn, {ErrorCodeRole});
        }
        if (sa.errorMessage != sb.errorMessage) {
            rc.add(OrderNumberColumn, {ErrorMessageRole});
            rc.add(CurrentStepColumn, {Qt::DisplayRole, Qt::ToolTipRole, SortRole, ErrorMessageRole});
        }
        if (sa.durationMs() != sb.durationMs()) {
            rc.add(ProgressColumn, {SortRole});
            if (formatDuration(sa.durationMs()) != formatDuration(sb.durationMs()))
                rc.add(ProgressColumn, {Qt::DisplayRole, Qt::ToolTipRole});
        }
        const QDateTime shownA = shownTime(sa);
        const QDateTime shownB = shownTime(sb);
        if (shownA != shownB) {
            rc.add(OrderNumberColumn, {TimestampRole});
            rc.add(LastUpdatedColumn, {SortRole, TimestampRole});
            if (!sameSecond(shownA, shownB))
                rc.add(LastUpdatedColumn, {Qt::DisplayRole, Qt::ToolTipRole});
        }
        if (!rc.isEmpty()) {
            auto *ptr = const_cast<OrderTreeNode *>(t.node);
            Q_EMIT dataChanged(createIndex(i, rc.first, ptr), createIndex(i, rc.last, ptr), rc.roles);
        }
    }
}

void OrderTreeModel::loadSnapshots(const QVector<OrderProgress> &snapshots)
{
    Q_ASSERT(QThread::currentThread() == thread());
    std::vector<std::unique_ptr<OrderTreeNode>> fresh;
    for (const OrderProgress &snapshot : snapshots) {
        if (snapshot.orderId.isNull())
            continue;
        if (OrderTreeNode *node = m_byId.value(snapshot.orderId, nullptr)) {
            node->progress = snapshot;
            estimateFromLastEvent(node->progress);
            if (node->inserted) {
                const int row = node->row();
                Q_EMIT dataChanged(createIndex(row, 0, nullptr), createIndex(row, kOrderColumnCount - 1, nullptr));
                Q_EMIT dataChanged(createIndex(0, 0, node), createIndex(kStepCount - 1, kOrderColumnCount - 1, node));
            }
            continue;
        }
        fresh.push_back(std::make_unique<OrderTreeNode>(snapshot.orderId, 0));
        fresh.back()->progress = snapshot;
        estimateFromLastEvent(fresh.back()->progress);
        m_byId.insert(snapshot.orderId, fresh.back().get());
    }
    if (fresh.empty())
        return;
    const int first = int(m_orders.size());
    beginInsertRows({}, first, first + int(fresh.size()) - 1);
    m_orders.reserve(m_orders.size() + fresh.size());
    for (auto &n : fresh) {
        n->setRow(int(m_orders.size()));
        n->inserted = true;
        m_orders.push_back(std::move(n));
    }
    endInsertRows();
    Q_EMIT ordersInserted(int(fresh.size()));
}

// As applyEvents() leaves it after the order's last event: from its current step
// and when that started, at the time of that event. (A snapshot's own estimate, if
// it has one, was made elsewhere at some other time; none was made at all for
// an order read from the store, and an order whose engine died mid-step showed
// no ETA and no late mark until its next event.)
void OrderTreeModel::estimateFromLastEvent(OrderProgress &progress) const
{
    progress.estimatedCompletion =
        m_eta.estimate(progress, progress.lastUpdated.isValid() ? progress.lastUpdated : now());
}

void OrderTreeModel::seedEta(const QVector<QPair<SagaStep, qint64>> &newestFirst)
{
    Q_ASSERT(QThread::currentThread() == thread());
    // Oldest first, so the estimator's window keeps the newest samples.
    for (auto it = newestFirst.crbegin(); it != newestFirst.crend(); ++it)
        m_eta.recordDuration(it->first, it->second);
    // The orders loaded before the history was read were estimated with the
    // defaults: again, with what the steps took.
    for (const auto &node : m_orders) {
        OrderProgress &p = node->progress;
        if (p.isTerminal())
            continue;
        const QDateTime before = p.estimatedCompletion;
        estimateFromLastEvent(p);
        if (p.estimatedCompletion == before)
            continue;
        RowChange rc; // as emitChanges() announces a new estimate
        rc.add(OrderNumberColumn, {EtaRole, IsLateRole});
        rc.add(EtaColumn, {SortRole, EtaRole, IsLateRole, Qt::DisplayRole, Qt::ToolTipRole});
        const int row = node->row();
        Q_EMIT dataChanged(createIndex(row, rc.first, nullptr), createIndex(row, rc.last, nullptr), rc.roles);
    }
}

void OrderTreeModel::clear()
{
    Q_ASSERT(QThread::currentThread() == thread());
    beginResetModel();
    m_touches.clear();
    m_touchCount = 0;
    m_byId.clear();
    m_orders.clear();
    // What the steps took belongs to the orders dropped (another source's, or data
    // replaced): ETAs and late marks no longer go by them.
    m_eta.clearSamples();
    endResetModel();
}

int OrderTreeModel::orderCount() const
{
    return int(m_orders.size());
}

const OrderProgress *OrderTreeModel::order(const QUuid &orderId) const
{
    const OrderTreeNode *node = m_byId.value(orderId, nullptr);
    return (node && node->inserted) ? &node->progress : nullptr;
}

QString OrderTreeModel::orderNumberText(const OrderProgress &order)
{
    return order.orderNumber.isEmpty() ? order.orderId.toString(QUuid::WithoutBraces) : order.orderNumber;
}

const OrderProgress *OrderTreeModel::orderAt(const QModelIndex &index) const
{
    if (!index.isValid() || index.model() != this)
        return nullptr;
    if (const auto *node = static_cast<const OrderTreeNode *>(index.internalPointer()))
        return &node->progress;
    if (index.row() < 0 || size_t(index.row()) >= m_orders.size())
        return nullptr;
    return &m_orders[size_t(index.row())]->progress;
}

QModelIndex OrderTreeModel::indexOf(const QUuid &orderId, int column) const
{
    const OrderTreeNode *node = m_byId.value(orderId, nullptr);
    if (!node || !node->inserted || column < 0 || column >= kOrderColumnCount)
        return {};
    return createIndex(node->row(), column, nullptr);
}

void OrderTreeModel::setDisplayUtc(bool utc)
{
    if (m_displayUtc == utc)
        return;
    m_displayUtc = utc;
    if (m_orders.empty())
        return;
    const QList<int> roles{Qt::DisplayRole, Qt::ToolTipRole};
    Q_EMIT dataChanged(createIndex(0, LastUpdatedColumn, nullptr),
                       createIndex(int(m_orders.size()) - 1, EtaColumn, nullptr), roles);
    for (const auto &node : m_orders) {
        Q_EMIT dataChanged(createIndex(0, LastUpdatedColumn, node.get()),
                           createIndex(kStepCount - 1, LastUpdatedColumn, node.get()), roles);
    }
}

void OrderTreeModel::setClock(std::function<QDateTime()> clock)
{
    m_clock = clock ? std::move(clock) : [] { return QDateTime::currentDateTimeUtc(); };
}

QDateTime OrderTreeModel::now() const
{
    return m_clock();
}

QString OrderTreeModel::formatTime(const QDateTime &utc) const
{
    if (!utc.isValid())
        return {};
    const QDateTime t = m_displayUtc ? utc.toUTC() : utc.toLocalTime();
    return t.toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}
