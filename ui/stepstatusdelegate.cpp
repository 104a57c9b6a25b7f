#include "stepstatusdelegate.h"

#include "ordertreemodel.h"

#include <QApplication>
#include <QPainter>
#include <QStyle>

namespace {
constexpr int kMargin = 4;

bool isStepRow(const QModelIndex &index)
{
    return index.data(OrderTreeModel::IsStepRole).toBool();
}

qreal dprOf(const QPainter *painter)
{
    return painter && painter->device() ? painter->device()->devicePixelRatioF() : 1.0;
}
} // namespace

StepStatusDelegate::StepStatusDelegate(QObject *parent)
    : QStyledItemDelegate(parent)
{
}

QColor StepStatusDelegate::lateColor()
{
    return QColor(0xC5, 0x22, 0x1F);
}

QString StepStatusDelegate::iconNameFor(const QModelIndex &index)
{
    if (!index.isValid() || index.column() != OrderTreeModel::StatusColumn)
        return {};
    const QVariant raw = index.data(OrderTreeModel::RawStatusRole);
    if (!raw.isValid())
        return {};
    const int value = raw.toInt();
    if (isStepRow(index)) {
        if (value < 0 || value >= kStepStatusCount)
            return {};
        return StatusIcons::iconName(StepStatus(value));
    }
    if (value < 0 || value >= kOverallStatusCount)
        return {};
    return StatusIcons::iconName(OverallStatus(value));
}

QStringList StepStatusDelegate::stripIconNamesFor(const QModelIndex &index)
{
    if (!index.isValid() || index.column() != OrderTreeModel::ProgressColumn || isStepRow(index))
        return {};
    // The model gives the strip on column 0 (the order's row-wide roles).
    const QVariantList statuses = index.siblingAtColumn(0).data(OrderTreeModel::StepStatusesRole).toList();
    QStringList names;
    for (const QVariant &v : statuses) {
        const int value = v.toInt();
        names.append(value >= 0 && value < kStepStatusCount ? StatusIcons::iconName(StepStatus(value))
                                                            : QString());
    }
    return names;
}

QRect StepStatusDelegate::statusIconRect(const QRect &cell)
{
    return QRect(cell.left() + kMargin, cell.top() + (cell.height() - kIconSize) / 2, kIconSize,
                 kIconSize);
}

QRect StepStatusDelegate::stripIconRect(const QRect &cell, int step)
{
    return QRect(cell.left() + kMargin + step * (kIconSize + kStripSpacing),
                 cell.top() + (cell.height() - kIconSize) / 2, kIconSize, kIconSize);
}

void StepStatusDelegate::paintBackground(QPainter *painter, QStyleOptionViewItem &opt) const
{
    // Background, selection and focus from the style; no text, no icon.
    opt.text.clear();
    opt.icon = QIcon();
    opt.features &= ~QStyleOptionViewItem::HasDecoration;
    const QWidget *widget = opt.widget;
    QStyle *style = widget ? widget->style() : QApplication::style();
    style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, widget);
}

void StepStatusDelegate::paint(QPainter *painter, const QStyleOptionViewItem &option,
                               const QModelIndex &index) const
{
    switch (index.column()) {
    case OrderTreeModel::StatusColumn:
        paintStatus(painter, option, index);
        return;
    case OrderTreeModel::ProgressColumn:
        if (!isStepRow(index)) {
            paintStrip(painter, option, index);
            return;
        }
        break;
    case OrderTreeModel::EtaColumn:
        if (!isStepRow(index) && index.data(OrderTreeModel::IsLateRole).toBool()) {
            QStyleOptionViewItem opt(option);
            opt.palette.setColor(QPalette::Text, lateColor());
            opt.font.setBold(true);
            QStyledItemDelegate::paint(painter, opt, index);
            return;
        }
        break;
    default:
        break;
    }
    QStyledItemDelegate::paint(painter, option, index);
}

void StepStatusDelegate::paintStatus(QPainter *painter, const QStyleOptionViewItem &option,
                                     const QModelIndex &index) const
{
    QStyleOptionViewItem opt(option);
    initStyleOption(&opt, index);
    const QString text = opt.text;
    paintBackground(painter, opt);

    const QString name = iconNameFor(index);
    const QRect iconRect = statusIconRect(opt.rect);
    if (!name.isEmpty())
        painter->drawPixmap(iconRect, m_icons.pixmap(name, kIconSize, dprOf(painter)));

    const QRect textRect = opt.rect.adjusted(iconRect.right() - opt.rect.left() + 1 + kMargin + 1, 0,
                                             -kMargin, 0);
    const bool selected = opt.state.testFlag(QStyle::State_Selected);
    painter->save();
    painter->setFont(opt.font);
    painter->setPen(opt.palette.color(selected ? QPalette::HighlightedText : QPalette::Text));
    painter->drawText(textRect, Qt::AlignVCenter | Qt::AlignLeft,
                      opt.fontMetrics.elidedText(text, Qt::ElideRight, textRect.width()));
    painter->restore();
}

void StepStatusDelegate::paintStrip(QPainter *painter, const QStyleOptionViewItem &option,
                                    const QModelIndex &index) const
{
    QStyleOptionViewItem opt(option);
    initStyleOption(&opt, index);
    const QString text = opt.text;
    paintBackground(painter, opt);

    const QStringList names = stripIconNamesFor(index);
    const qreal dpr = dprOf(painter);
    const bool selected = opt.state.testFlag(QStyle::State_Selected);
    painter->save();
    painter->setRenderHint(QPainter::Antialiasing);
    if (names.size() > 1) { // the connector behind the icons
        QColor line = opt.palette.color(selected ? QPalette::HighlightedText : QPalette::Mid);
        line.setAlpha(160);
        painter->setPen(QPen(line, 1.5));
        const QRect first = stripIconRect(opt.rect, 0);
        const QRect last = stripIconRect(opt.rect, int(names.size()) - 1);
        painter->drawLine(QPointF(first.center().x(), first.center().y() + 0.5),
                          QPointF(last.center().x(), last.center().y() + 0.5));
    }
    for (int i = 0; i < names.size(); ++i) {
        if (!names.at(i).isEmpty())
            painter->drawPixmap(stripIconRect(opt.rect, i), m_icons.pixmap(names.at(i), kIconSize, dpr));
    }
    const int textLeft = stripIconRect(opt.rect, int(names.size())).left();
    const QRect textRect(textLeft, opt.rect.top(), opt.rect.right() - textLeft - kMargin,
                         opt.rect.height());
    if (textRect.width() > 8) {
        painter->setFont(opt.font);
        QColor textColor = opt.palette.color(selected ? QPalette::HighlightedText : QPalette::Text);
        painter->setPen(textColor);
        painter->drawText(textRect, Qt::AlignVCenter | Qt::AlignLeft,
                          opt.fontMetrics.elidedText(text, Qt::ElideRight, textRect.width()));
    }
    painter->restore();
}

int StepStatusDelegate::orderCellWidth(const QWidget *view, int column, const QString &text)
{
    QStyleOptionViewItem opt;
    opt.initFrom(view);
    if (column == OrderTreeModel::EtaColumn) // (late: bold)
        opt.font.setBold(true);
    opt.fontMetrics = QFontMetrics(opt.font);
    switch (column) {
    case OrderTreeModel::StatusColumn:
        return statusIconRect(QRect()).right() + 1 + kMargin + 1 + opt.fontMetrics.horizontalAdvance(text) + kMargin;
    case OrderTreeModel::ProgressColumn:
        return stripIconRect(QRect(), kStepCount).left() + opt.fontMetrics.horizontalAdvance(text) + kMargin;
    default:
        break;
    }
    // As QStyledItemDelegate measures a text cell.
    opt.features = QStyleOptionViewItem::HasDisplay;
    opt.text = text;
    const QStyle *style = view->style();
    return style->sizeFromContents(QStyle::CT_ItemViewItem, &opt, QSize(), view).width();
}

QSize StepStatusDelegate::sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const
{
    QSize size = QStyledItemDelegate::sizeHint(option, index);
    size.setHeight(qMax(size.height(), kIconSize + 6));
    if (index.column() == OrderTreeModel::StatusColumn)
        size.rwidth() += kIconSize + 2 * kMargin;
    else if (index.column() == OrderTreeModel::ProgressColumn && !isStepRow(index))
        size.setWidth(qMax(size.width(), 3 * (kIconSize + kStripSpacing) + 2 * kMargin + 36));
    return size;
}
