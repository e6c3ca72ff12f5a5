"""Example initiatives for a newcomer's machine and for the demo (clearly marked)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from . import audit, clock
from .extensions import db
from .models import Initiative, InitiativeState, InitiativeText

EXAMPLE_NOTE_SV = "Detta är ett exempel som visar hur tjänsten fungerar."

AMIRALSGATAN = {
    "slug": "amiralsgatan",
    "threshold": 100,
    "period_months": 6,
    "target_body": "Tekniska nämnden",
    "official_url": "https://malmo.se/malmoinitiativet",
    "texts": {
        "sv": {
            "title": "Gör Amiralsgatan tryggare och grönare för den som går och cyklar",
            "summary": (
                "Vi föreslår säkra övergångar, en egen cykelbana, fler träd och bättre "
                "belysning längs Amiralsgatan vid Rosengård. (Exempel.)"
            ),
            "body": (
                f"{EXAMPLE_NOTE_SV}\n\n"
                "Amiralsgatan delar Rosengård från resten av staden. Varje dag korsar barn "
                "på väg till skolan, äldre på väg till Rosengård centrum och pendlare på "
                "cykel en bred gata med snabb biltrafik. Många boende känner sig otrygga, "
                "särskilt när det är mörkt.\n\n"
                "Vi föreslår att Tekniska nämnden:\n"
                "1. bygger upphöjda och väl belysta övergångar vid Rosengård centrum och "
                "vid Ramels väg,\n"
                "2. anlägger en sammanhängande cykelbana, skild från bilar och gående, "
                "längs hela Amiralsgatan genom Rosengård,\n"
                "3. sänker hastigheten till 40 km/h på sträckan,\n"
                "4. planterar gatuträd och ordnar sittplatser i skugga,\n"
                "5. byter till ljusare och jämnare gatubelysning.\n\n"
                "Förslaget bygger på samtal med boende under felanmälningsrundor och "
                "trygghetsvandringar som Rosengård Samverkan har gjort under året."
            ),
        },
        "en": {
            "title": "Make Amiralsgatan safer and greener for people walking and cycling",
            "summary": (
                "We propose safe crossings, a separate cycle path, more trees and better "
                "lighting along Amiralsgatan by Rosengård. (Example.)"
            ),
            "body": (
                "This is an example that shows how the service works.\n\n"
                "Amiralsgatan separates Rosengård from the rest of the city. Every day "
                "children on their way to school, older people going to Rosengård centrum "
                "and commuters on bicycles cross a wide street with fast car traffic. Many "
                "residents feel unsafe, especially after dark.\n\n"
                "We propose that the Technical Committee:\n"
                "1. builds raised, well-lit crossings at Rosengård centrum and at Ramels "
                "väg,\n"
                "2. builds a continuous cycle path, separate from cars and pedestrians, "
                "along all of Amiralsgatan through Rosengård,\n"
                "3. lowers the speed limit to 40 km/h on this stretch,\n"
                "4. plants street trees and provides shaded seating,\n"
                "5. replaces the street lighting with brighter, more even light.\n\n"
                "The proposal grew out of conversations with residents during the "
                "fault-reporting walks and safety walks Rosengård Samverkan held this year."
            ),
        },
        "ar": {
            "title": "اجعلوا شارع أميرالسغاتان أكثر أمانًا وخضرة للمشاة وراكبي الدراجات",
            "summary": (
                "نقترح معابر آمنة، ومسارًا منفصلًا للدراجات، والمزيد من الأشجار، وإضاءة "
                "أفضل على طول شارع أميرالسغاتان عند روزنغورد. (مثال.)"
            ),
            "body": (
                "هذا مثال يوضح كيف تعمل الخدمة.\n\n"
                "يفصل شارع أميرالسغاتان روزنغورد عن باقي المدينة. كل يوم يعبر الأطفال في "
                "طريقهم إلى المدرسة، وكبار السن في طريقهم إلى مركز روزنغورد، وراكبو الدراجات "
                "شارعًا عريضًا فيه سيارات سريعة. كثير من السكان لا يشعرون بالأمان، خاصة في "
                "الظلام.\n\n"
                "نقترح أن تقوم اللجنة الفنية بما يلي:\n"
                "1. بناء معابر مرتفعة ومضاءة جيدًا عند مركز روزنغورد وعند راملس فيغ،\n"
                "2. إنشاء مسار متصل للدراجات منفصل عن السيارات والمشاة،\n"
                "3. خفض السرعة إلى 40 كم/ساعة،\n"
                "4. زراعة أشجار ووضع مقاعد في الظل،\n"
                "5. تحسين إنارة الشارع."
            ),
        },
        "so": {
            "title": "Ka dhig Amiralsgatan mid ammaan ah oo cagaar ah oo loogu talagalay "
            "dadka lugaynaya iyo baaskiilayda",
            "summary": (
                "Waxaan soo jeedinaynaa goobo looga gudbo oo ammaan ah, waddo baaskiil oo "
                "gooni ah, geedo badan iyo iftiin wanaagsan oo ku teedsan Amiralsgatan. "
                "(Tusaale.)"
            ),
            "body": (
                "Kani waa tusaale muujinaya sida adeeggu u shaqeeyo.\n\n"
                "Amiralsgatan waxay Rosengård ka soocdaa qaybta kale ee magaalada. Maalin "
                "kasta carruurta dugsiga u socota, dadka waayeelka ah iyo baaskiilayda "
                "ayaa ka gudba waddo ballaaran oo baabuur degdeg ah ay maraan. Dad badan "
                "oo deggan ayaan dareemin ammaan, gaar ahaan habeenkii.\n\n"
                "Waxaan soo jeedinaynaa in Guddiga Farsamadu:\n"
                "1. dhiso goobo looga gudbo oo sare u kacsan oo si fiican u iftiimaya,\n"
                "2. sameeyo waddo baaskiil oo gooni ah,\n"
                "3. xawaaraha hoos ugu dhigo 40 km/saacaddii,\n"
                "4. beero geedo oo dhigo kuraas hoos yaal,\n"
                "5. hagaajiyo iftiinka waddada."
            ),
        },
    },
}

PARK_LIGHTS = {
    "slug": "ljus-i-rosengardsparken",
    "threshold": 100,
    "period_months": 3,
    "target_body": "Tekniska nämnden",
    "official_url": None,
    "texts": {
        "sv": {
            "title": "Tänd gångvägarna genom Rosengårdsparken",
            "summary": (
                "Belysning längs de gångvägar i Rosengårdsparken som många använder på "
                "kvällen. (Exempel.)"
            ),
            "body": (
                f"{EXAMPLE_NOTE_SV}\n\n"
                "Gångvägarna genom Rosengårdsparken är mörka på kvällen. Många går ändå "
                "där, till och från bussen, träningen och Folkets Hus.\n\n"
                "Vi föreslår att Tekniska nämnden sätter upp belysning längs de mest "
                "använda gångvägarna och lagar de lampor som är trasiga."
            ),
        },
        "en": {
            "title": "Light the footpaths through Rosengårdsparken",
            "summary": (
                "Lighting along the footpaths in Rosengårdsparken that many people use in "
                "the evening. (Example.)"
            ),
            "body": (
                "This is an example that shows how the service works.\n\n"
                "The footpaths through Rosengårdsparken are dark in the evening. Many "
                "people still walk there, to and from the bus, training and Folkets Hus.\n\n"
                "We propose that the Technical Committee puts up lighting along the most "
                "used footpaths and repairs the broken lamps."
            ),
        },
    },
}

EXAMPLES = (AMIRALSGATAN, PARK_LIGHTS)


def load_examples() -> list[str]:
    """Create the example initiatives that do not exist yet; returns the slugs created."""
    created = []
    now = clock.utcnow().replace(microsecond=0)
    for example in EXAMPLES:
        exists = db.session.scalar(
            sa.select(Initiative.id).where(Initiative.slug == example["slug"])
        )
        if exists is not None:
            continue
        initiative = Initiative(
            slug=example["slug"],
            state=InitiativeState.COLLECTING,
            threshold=example["threshold"],
            period_months=example["period_months"],
            target_body=example["target_body"],
            official_url=example["official_url"],
            is_example=True,
            opens_at=now - timedelta(days=3),
        )
        initiative.closes_at = clock.add_months(initiative.opens_at, example["period_months"])
        for locale, text in example["texts"].items():
            initiative.texts.append(InitiativeText(locale=locale, **text))
        initiative.text_hash = initiative.compute_text_hash()
        db.session.add(initiative)
        db.session.flush()
        audit.record("initiative.example_loaded", actor="cli", initiative=initiative)
        created.append(example["slug"])
    return created
