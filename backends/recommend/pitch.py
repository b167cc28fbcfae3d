"""The one-line pitch of a recommendation, written for this shopper in their language.

The copy is a template filled from the two-tower model's signals: which purchase the item goes with (a
complement of an anchor the shopper owns), a brand they bought before, a category they already own (an
alternative), what was asked for ("accessories for my phone"), or plain popularity. The item's own selling points
come from the catalog (English ``features``); a Chinese shopper reads the category's selling point in Chinese
instead (the catalog has no Chinese feature text), so a line reads 「您买了 Samsung Galaxy S24，这款手机壳正好配它：
Spigen Ultra Hybrid clear case for Galaxy S24，轻薄透明，防摔，$19.99。」.

What was tried: templates keyed by the signal that explains the pick (below). A generative model was not: none that
writes Chinese runs offline here within the latency of a recommendation (about 1 ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backends.catalog import Item

EN, ZH = "en", "zh"

# why an accessory suits its anchor, per accessory category
_WHY = {
    EN: {
        "phone case": "is made for it",
        "screen protector": "fits its screen exactly",
        "charger": "charges it at full speed",
        "power bank": "keeps it going all day",
        "earbuds": "pairs with it in a tap",
        "headphones": "turn it into a quiet office",
        "laptop sleeve": "protects it on the go",
        "mouse": "makes long sessions easier",
        "usb-c hub": "adds the ports it lacks",
        "running socks": "keep your feet blister-free in them",
        "sports watch": "tracks every run in them",
        "running belt": "carries your phone and keys on the run",
        "memory card": "has room for hours of 4K video",
        "tripod": "keeps every shot steady",
        "camera bag": "carries it safely",
    },
    ZH: {
        "phone case": "正好配它", "screen protector": "贴合它的屏幕", "charger": "给它满速快充",
        "power bank": "让它续航一整天", "earbuds": "一碰即连", "headphones": "让它秒变安静的办公室",
        "laptop sleeve": "出门护住它", "mouse": "久用更顺手", "usb-c hub": "补齐它缺的接口",
        "running socks": "让您跑步不磨脚", "sports watch": "记录您每一次跑步", "running belt": "能在跑步时装好手机和钥匙",
        "memory card": "装得下数小时 4K 视频", "tripod": "让每张照片都稳稳的", "camera bag": "能安全装好它",
    },
}

# the catalog's categories in Chinese, and the selling point a Chinese shopper reads for each
CATEGORY_ZH = {
    "phone": "手机", "phone case": "手机壳", "screen protector": "钢化膜", "charger": "充电器", "power bank": "充电宝",
    "earbuds": "无线耳机", "headphones": "头戴式耳机", "laptop": "笔记本电脑", "laptop sleeve": "电脑内胆包",
    "mouse": "鼠标", "usb-c hub": "USB-C 扩展坞", "running shoes": "跑鞋", "running socks": "跑步袜",
    "sports watch": "运动手表", "running belt": "跑步腰包", "camera": "相机", "memory card": "存储卡",
    "tripod": "三脚架", "camera bag": "相机包",
}
SELLING_POINT_ZH = {
    "phone": "拍照清晰，续航持久", "phone case": "轻薄贴合，防摔耐用", "screen protector": "高清耐刮，安装简单",
    "charger": "小巧快充，出门好带", "power bank": "大容量，随时补电", "earbuds": "降噪清晰，佩戴舒适",
    "headphones": "沉浸降噪，长时间佩戴也舒适", "laptop": "轻薄高效，办公学习都合适", "laptop sleeve": "防泼防刮，随手一装",
    "mouse": "手感舒适，精准顺滑", "usb-c hub": "一口变多口，桌面更整洁", "running shoes": "轻量化设计，适合跑步爱好者",
    "running socks": "透气速干，防磨脚", "sports watch": "精准 GPS，科学训练", "running belt": "贴身不晃，轻松收纳",
    "camera": "画质出色，上手容易", "memory card": "高速读写，容量充足", "tripod": "稳固轻便，随拍随架",
    "camera bag": "分区合理，保护到位",
}


@dataclass(frozen=True)
class Signals:
    """Why the model picked an item for this shopper (what the pitch may say)."""

    anchor: Item | None  # a purchase the item complements
    same_brand: Item | None  # a purchase of the same brand
    same_category: Item | None  # a purchase in the same category (the item is an alternative)
    last_purchase: Item | None
    asked_for: Sequence[str]  # categories the request named ("accessories for my phone" → its complements)
    accessories_for: str | None  # the anchor category of an accessory request


def signals(item: Item, purchased: Sequence[Item], complements: Sequence[Item], asked_for: Sequence[str],
            accessories_for: str | None) -> Signals:
    """The signals for ``item``; ``complements`` are the purchases it complements (latest last)."""
    return Signals(
        anchor=complements[-1] if complements else None,
        same_brand=next((p for p in reversed(purchased) if p.brand == item.brand), None),
        same_category=next((p for p in reversed(purchased) if p.category == item.category), None),
        last_purchase=purchased[-1] if purchased else None,
        asked_for=sorted(asked_for),
        accessories_for=accessories_for,
    )


def price_text(amount: float) -> str:
    return f"${amount:,.2f}"


# One template per language and reason (the first reason that holds explains the pick, in this order).
_TEMPLATES = {
    EN: {
        "anchor": "Since you bought the {owned}: the {title} {why} ({features}, {price}).",
        "same_brand": "You liked your {owned}, so here's more {brand}: the {offer}.",
        "same_category": "An alternative to your {owned}: the {offer}.",
        "also_bought": "Popular with shoppers who bought the {owned}: the {offer}.",
        "accessories_for": "Goes with any {anchor_category}: the {offer}.",
        "asked_for": "Popular right now in {asked}: the {offer}.",
        "popular": "Popular right now: the {offer}.",
    },
    ZH: {
        "anchor": "您买了 {owned}，这款{kind}{why}：{offer}",
        "same_brand": "您喜欢您的 {owned}，再看看 {brand} 的这款{kind}：{offer}",
        "same_category": "想换换您的 {owned}？试试这款{kind}：{offer}",
        "also_bought": "买了 {owned} 的顾客也喜欢这款{kind}：{offer}",
        "accessories_for": "{anchor_category}的好搭档，{kind}：{offer}",
        "asked_for": "您可能喜欢的{kind}：{offer}",
        "popular": "您可能喜欢的{kind}：{offer}",
    },
}
_DEFAULT_WHY = {EN: "goes well with it", ZH: "和它很搭"}


def reason(why: Signals) -> tuple[str, Item | None]:
    """Which signal explains the pick, and the purchase it names (None for the request or popularity)."""
    for name, owned in (("anchor", why.anchor), ("same_brand", why.same_brand),
                        ("same_category", why.same_category), ("also_bought", why.last_purchase)):
        if owned is not None:
            return name, owned
    if why.accessories_for:
        return "accessories_for", None
    return ("asked_for" if why.asked_for else "popular"), None


def write_pitch(item: Item, why: Signals, lang: str = EN) -> str:
    """The pitch line for ``item`` in ``lang`` (``en`` or ``zh``; anything else reads English)."""
    lang = ZH if lang == ZH else EN
    name, owned = reason(why)
    price = price_text(item.price)
    zh = lang == ZH
    anchor_category = why.accessories_for or ""
    fields = {
        "title": item.title, "brand": item.brand, "features": item.features, "price": price,
        "kind": CATEGORY_ZH.get(item.category, item.category),
        "offer": (f"{item.title}，{SELLING_POINT_ZH.get(item.category, item.features)}，{price}。" if zh
                  else f"{item.title} — {item.features}, {price}"),
        "why": _WHY[lang].get(item.category, _DEFAULT_WHY[lang]),
        "owned": owned.title if owned is not None else "",
        "anchor_category": CATEGORY_ZH.get(anchor_category, anchor_category) if zh else anchor_category,
        "asked": ", ".join(why.asked_for),
    }
    return _TEMPLATES[lang][name].format(**fields)
